//! Helpers for the end-to-end tests: free ports, child processes that die with the test, broker start-up.

/// Dashboards, Prometheus files and compose: locating them and reading PromQL out of them.
pub mod observability;
/// Recall and precision per detection category against sfsim's labels.
pub mod quality;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A TCP port free right now on 127.0.0.1 (bind port 0, read it, release it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}

/// A child process killed (and reaped) when the guard is dropped, so a failing test leaves nothing behind.
pub struct ChildGuard {
    pub name: String,
    child: Option<Child>,
}

impl ChildGuard {
    pub fn spawn(name: &str, cmd: &mut Command) -> ChildGuard {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        ChildGuard {
            name: name.to_string(),
            child: Some(child),
        }
    }

    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// SIGTERM (graceful), then SIGKILL after `grace`.
    pub fn terminate(&mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// SIGKILL now.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The workspace root (parent of `tests/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Builds `package` (debug) and returns the path of its binary `bin` in the workspace target dir.
pub fn build_binary(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", package, "--bin", bin])
        .current_dir(workspace_root())
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build -p {package} failed");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    let path = target.join("debug").join(bin);
    assert!(
        path.exists(),
        "built binary not found at {}",
        path.display()
    );
    path
}

/// The `tansu` broker binary: `~/.cargo/bin/tansu` or `tansu` on PATH. Panics with the fix when absent
/// (the end-to-end tier must not skip silently).
pub fn tansu_binary() -> PathBuf {
    let home = std::env::var("HOME").map(PathBuf::from).unwrap_or_default();
    let candidate = home.join(".cargo/bin/tansu");
    if candidate.exists() {
        return candidate;
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join("tansu");
            if p.exists() {
                return p;
            }
        }
    }
    panic!("the tansu broker is required for this end-to-end test but was not found in ~/.cargo/bin or on PATH; install it with `cargo install tansu` (as .ci/run does)");
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A real Kafka-API broker process (tansu) on loopback. With a `sqlite://` storage engine its data
/// survives [`TansuBroker::stop`] / [`TansuBroker::start`] (the `memory://` engine does not).
pub struct TansuBroker {
    pub port: u16,
    storage: String,
    /// Working directory of the broker (a relative `sqlite://` path resolves against it).
    dir: PathBuf,
    process: Option<ChildGuard>,
}

impl TansuBroker {
    /// A broker on a free port storing its data in `dir/tansu.db`; started.
    pub fn sqlite(dir: &Path) -> TansuBroker {
        let mut b = TansuBroker {
            port: free_port(),
            // tansu 0.6 resolves the sqlite path against its working directory.
            storage: "sqlite://tansu.db".into(),
            dir: dir.to_path_buf(),
            process: None,
        };
        b.start();
        b
    }

    /// A broker on a free port with the `memory://` engine; started.
    pub fn memory() -> TansuBroker {
        let mut b = TansuBroker {
            port: free_port(),
            storage: "memory://tansu/".into(),
            dir: std::env::temp_dir(),
            process: None,
        };
        b.start();
        b
    }

    pub fn bootstrap_servers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn start(&mut self) {
        assert!(self.process.is_none(), "broker already running");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut cmd = Command::new(tansu_binary());
        cmd.arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", &self.storage])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.process = Some(ChildGuard::spawn("tansu", &mut cmd));
        assert!(
            wait_for_port(self.port, Duration::from_secs(30)),
            "tansu did not listen on port {} within 30 s",
            self.port
        );
    }

    /// Kills the broker (as a crash or an operator would stop it).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }
}
