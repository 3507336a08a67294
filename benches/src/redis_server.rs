//! Starts and stops the redis-server used by the Redis peer: one fresh server per round, on
//! 127.0.0.1, a free non-default port and a fresh directory. Stopped on drop, also on error.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::stats;

/// The redis-server binary (Debian's `redis-server` package).
pub const BINARY: &str = "redis-server";

/// A running redis-server owned by the benchmark; stopped when dropped.
pub struct RedisServer {
    child: Child,
    /// The TCP port it listens on (127.0.0.1 only).
    pub port: u16,
    dir: PathBuf,
}

/// Whether `redis-server` can be run.
pub fn available() -> bool {
    Command::new(BINARY)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr().context("local_addr")?.port())
}

impl RedisServer {
    /// Starts a server with its data in `dir` (created if missing): no RDB snapshots, no
    /// automatic AOF rewrite, AOF off (the Redis peer switches it on after its bulk load) and
    /// `appendfsync always`.
    pub fn start(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let port = free_port()?;
        let log = dir.join("redis.log");
        let child = Command::new(BINARY)
            .arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--protected-mode", "yes"])
            .arg("--dir")
            .arg(dir)
            .arg("--logfile")
            .arg(&log)
            .args(["--daemonize", "no", "--save", ""])
            .args(["--appendonly", "no", "--appendfsync", "always"])
            .args(["--auto-aof-rewrite-percentage", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {BINARY}"))?;
        let mut server = RedisServer {
            child,
            port,
            dir: dir.to_path_buf(),
        };
        server.wait_ready(&log)?;
        Ok(server)
    }

    fn wait_ready(&mut self, log: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let url = self.url();
        loop {
            if let Some(status) = self.child.try_wait().context("polling redis-server")? {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                bail!("redis-server exited early ({status}); log:\n{tail}");
            }
            let ping = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "redis-server on port {} did not answer PING within 15 s",
                    self.port
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        url(self.port)
    }

    /// The server's peak RSS so far (`VmHWM`), in bytes.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        stats::proc_status_bytes(&self.child.id().to_string(), "VmHWM")
    }

    /// The directory holding the server's data.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The client URL of a server on `port`.
pub fn url(port: u16) -> String {
    format!("redis://127.0.0.1:{port}/")
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Ask politely (SHUTDOWN NOSAVE closes the connection, so its error is expected),
        // then kill the process we started if it is still there.
        if let Ok(mut con) =
            redis::Client::open(self.url().as_str()).and_then(|c| c.get_connection())
        {
            let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").exec(&mut con);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
