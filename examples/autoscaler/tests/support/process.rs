//! The `clip-autoscaler` binary as a child process, as the fleet's scripts run it.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `clip-autoscaler`; killed when dropped.
pub struct Process {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    child: Child,
    log: std::path::PathBuf,
}

impl Process {
    /// Starts the binary with `vars` added to this environment, its output in `dir/NAME.log`.
    pub fn start(name: &str, dir: &Path, vars: &HashMap<String, String>) -> Self {
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_clip-autoscaler"))
            .envs(vars)
            .env("AUTOSCALER_HOST", "127.0.0.1")
            .env("AUTOSCALER_PORT", port.to_string())
            .env("AUTOSCALER_LOG", "info,clip_autoscaler=debug")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let p = Self {
            url: format!("http://127.0.0.1:{port}"),
            child,
            log,
        };
        p.wait_for("/health", Duration::from_secs(30), |_| true);
        p
    }

    /// `GET /status`, if it answers.
    pub fn status(&self) -> Option<Value> {
        reqwest::blocking::get(format!("{}/status", self.url))
            .ok()?
            .json()
            .ok()
    }

    /// Polls `GET PATH` until `done` holds on its JSON, or fails with the log.
    pub fn wait_for(&self, path: &str, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let body = reqwest::blocking::get(format!("{}{path}", self.url))
                .ok()
                .and_then(|r| r.json::<Value>().ok());
            if let Some(b) = body.filter(|b| done(b)) {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: not as expected within {within:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no clean-up of any kind.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for it to exit; its exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}
