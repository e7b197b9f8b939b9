//! `loginwatch demo` as a newcomer runs it: the whole pipeline in one process.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn demo_prints_password_flow_detections_and_a_summary_then_exits_0() {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_loginwatch"))
        // A fixed start: the simulated org's traffic is the same whatever day the test runs.
        .args([
            "demo",
            "--duration",
            "20s",
            "--seed",
            "1",
            "--start",
            "2026-03-09T00:00:00Z",
        ])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start loginwatch demo");
    // Drain both pipes while it runs, or a full pipe would stall the demo.
    let drain = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout_reader = drain(Box::new(child.stdout.take().unwrap()));
    let stderr_reader = drain(Box::new(child.stderr.take().unwrap()));
    // Generous bound for a loaded 2-core machine: 20 s of demo plus start-up and shutdown.
    let deadline = started + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("demo did not stop by itself after --duration 20s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let stdout = stdout_reader.join().unwrap();
    let stderr = stderr_reader.join().unwrap();
    assert!(
        status.success(),
        "exit {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("/metrics"),
        "prints the metrics address:\n{stdout}"
    );
    // One line per detection from the terminal sink: severity, category, user, app, source IP, why.
    let detection_lines: Vec<&str> = stdout.lines().filter(|l| l.contains(" why: ")).collect();
    for category in ["oauth_username_password", "soap_password_login"] {
        let line = detection_lines
            .iter()
            .find(|l| l.contains(category))
            .unwrap_or_else(|| {
                panic!("no {category} detection line in:\n{stdout}\nstderr:\n{stderr}")
            });
        assert!(line.contains("user=") && line.contains("src="), "{line}");
    }
    assert!(!stdout.contains('\x1b'), "NO_COLOR means no escape codes");
    let summary = &stdout[stdout.find("Summary").expect("summary printed")..];
    assert!(summary.contains("oauth_username_password"), "{summary}");
    assert!(
        summary.contains("password-based authentication inventory"),
        "{summary}"
    );
    assert!(summary.contains("soap_password"), "{summary}");
}
