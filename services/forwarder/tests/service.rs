//! The `loginwatch-forwarder` binary: config errors name the key (never a secret), the ops
//! endpoints answer, SIGTERM shuts it down cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_loginwatch-forwarder"));
    c.env("NO_COLOR", "1").env("RUST_LOG", "info");
    // Keep LOGINWATCH_* overrides from the caller's environment out of these tests.
    for (k, _) in std::env::vars() {
        if k.starts_with("LOGINWATCH_") {
            c.env_remove(k);
        }
    }
    c
}

fn write_config(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let p = dir.path().join("forwarder.toml");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn bad_config_names_the_key_and_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(
        &dir,
        "[[sinks]]\nname = \"splunk\"\ntype = \"splunk_hec\"\nurl = \"http://127.0.0.1:8088\"\ntoken = { value = \"hunter2-secret-token\" }\nbatch = { max_event = 5 }\n",
    );
    let out = bin().arg("--config").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("max_event") && stderr.contains("max_events"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let path = write_config(&dir, "[[sinks]]\nname = \"s\"\ntype = \"syslog\"\n");
    let out = bin().arg("--config").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("sinks[0].address"), "{stderr}");
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, text)
}

#[test]
fn serves_ops_endpoints_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    // Kafka need not be up for the process to start; nothing is consumed.
    let path = write_config(
        &dir,
        "ops_listen = \"127.0.0.1:0\"\ndrain_timeout_secs = 2\n[kafka]\nbootstrap_servers = \"127.0.0.1:9\"\n[[sinks]]\nname = \"term\"\ntype = \"stdout\"\n",
    );
    let mut child = bin()
        .arg("--config")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(strip_ansi(&line));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let addr = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("ops endpoint logged");
        if let Some(rest) = line.split("ops_addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let (status, body) = http_get(&addr, "/healthz");
    assert_eq!(status, 200, "{body}");
    // The ops endpoint comes up before the pipeline; wait for the sink gauges and readiness.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = http_get(&addr, "/metrics");
        assert_eq!(status, 200);
        let (ready, report) = http_get(&addr, "/readyz");
        if body.contains("loginwatch_forwarder_queue_detections{sink=\"term\"} 0")
            && body.contains("loginwatch_forwarder_circuit_open{sink=\"term\"} 0")
            && ready == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "metrics or readiness missing:\n{body}\n{report}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "clean exit after SIGTERM: {status:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
