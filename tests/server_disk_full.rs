//! A full disk under the real server: the data directory is a small tmpfs
//! (mounting one needs root; without it the test says so and passes
//! vacuously). Writes fail with a `MISCONF` error, reads keep working, what
//! was acknowledged stays, and writes resume by themselves once the
//! filesystem grows.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::Server;
use redis::{Connection, RedisResult, cmd};

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf, #[allow(dead_code)] tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let t = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(t.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(t.path().to_path_buf(), t))
    }

    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success(), "remount");
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn xadd(c: &mut Connection, n: usize) -> RedisResult<String> {
    cmd("XADD")
        .arg("events")
        .arg("*")
        .arg("v")
        .arg(format!("{n:08}{}", "x".repeat(2000)))
        .query(c)
}

fn lpush(c: &mut Connection, n: usize) -> RedisResult<i64> {
    cmd("LPUSH")
        .arg("jobs")
        .arg(format!("{n:08}{}", "y".repeat(2000)))
        .query(c)
}

/// Runs `f` until it fails; returns how many succeeded and the error text.
fn fill(mut f: impl FnMut(usize) -> RedisResult<()>) -> (usize, String) {
    for n in 0..1_000_000 {
        if let Err(e) = f(n) {
            return (
                n,
                format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")),
            );
        }
    }
    panic!("the disk never filled");
}

fn xlen(c: &mut Connection) -> usize {
    cmd("XLEN").arg("events").query(c).unwrap()
}

fn llen(c: &mut Connection) -> usize {
    cmd("LLEN").arg("jobs").query(c).unwrap()
}

#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_recovers() {
    let Some(fs) = Tmpfs::mount("8m") else {
        eprintln!("disk full: cannot mount a tmpfs here (not root?); skipped");
        return;
    };
    let flags = ["--appendfsync", "always"];
    let server = Server::start(fs.path(), &flags);
    let mut c = server.conn();

    let (streams_ok, err) = fill(|n| xadd(&mut c, n).map(drop));
    assert!(err.starts_with("MISCONF"), "{err}");
    assert!(err.contains("no space left on device"), "{err}");
    let (lists_ok, err) = fill(|n| lpush(&mut c, n).map(drop));
    assert!(err.starts_with("MISCONF"), "{err}");
    eprintln!("disk full: {streams_ok} XADDs and {lists_ok} LPUSHes of 2 kB fit; then {err}");

    // Reads go on, and hold everything acknowledged.
    assert_eq!(xlen(&mut c), streams_ok);
    assert_eq!(llen(&mut c), lists_ok);
    let first: Vec<redis::Value> = cmd("XRANGE")
        .arg("events")
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query(&mut c)
        .unwrap();
    assert_eq!(first.len(), usize::from(streams_ok > 0));
    // Still full: still refused, nothing half-written.
    assert!(xadd(&mut c, 0).is_err());
    assert_eq!(xlen(&mut c), streams_ok);

    // Room comes back: writes resume without a restart.
    fs.resize("64m");
    xadd(&mut c, streams_ok).expect("XADD once there is room again");
    lpush(&mut c, lists_ok).expect("LPUSH once there is room again");
    assert_eq!(xlen(&mut c), streams_ok + 1);
    assert_eq!(llen(&mut c), lists_ok + 1);

    // And everything acknowledged survives a kill.
    server.kill9();
    let server = Server::start(fs.path(), &flags);
    let mut c = server.conn();
    assert_eq!(xlen(&mut c), streams_ok + 1);
    assert_eq!(llen(&mut c), lists_ok + 1);
}
