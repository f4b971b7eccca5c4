//! Crash test (c): a child process appends under `Always` from four threads
//! and reports each acknowledged key on a pipe; it is killed with SIGKILL at
//! random moments. After every kill the log must hold every acknowledged key,
//! as an unbroken run 1..=m with intact payloads.
//!
//! `BROOK_KILL_CYCLES` sets the number of cycles (default 12).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use brook::FsyncPolicy;
use brook::storage::{Entry, FsIo, Log};
use common::{Rng, payload_for, small_cfg};

const CHILD_ENV: &str = "BROOK_KILL_CHILD_DIR";

fn cfg() -> brook::LogConfig {
    let mut c = small_cfg(FsyncPolicy::Always);
    c.segment_bytes = 64 << 10;
    c
}

fn payload_len(key: u128) -> usize {
    (key as usize * 13) % 300
}

/// The child: appends until killed. Runs only when the parent sets the
/// environment variable.
#[test]
fn kill_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let log = Arc::new(Log::open(FsIo::shared(), &dir, cfg()).unwrap());
    let next = Arc::new(Mutex::new(log.last_key().unwrap_or(0)));
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (log, next, out) = (log.clone(), next.clone(), out.clone());
            std::thread::spawn(move || {
                loop {
                    let (key, commit) = {
                        let mut n = next.lock().unwrap();
                        let key = *n + 1;
                        let payload = payload_for(key, payload_len(key));
                        let commit = log
                            .submit(&[Entry {
                                kind: 1,
                                key,
                                payload: &payload,
                            }])
                            .unwrap();
                        *n = key;
                        (key, commit)
                    };
                    commit.wait().unwrap();
                    let mut o = out.lock().unwrap();
                    writeln!(o, "ACK {key}").unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn sigkill_loses_no_acknowledged_append() {
    let cycles: usize = std::env::var("BROOK_KILL_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ std::process::id() as u64);
    let mut total_acked = 0u64;
    let mut max_acked = 0u128;
    let mut torn_total = 0u64;
    let started = Instant::now();
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill_child_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let acked = Arc::new(Mutex::new(Vec::<u128>::new()));
        let reader = {
            let acked = acked.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(k) = line.strip_prefix("ACK ").and_then(|k| k.parse().ok()) {
                        acked.lock().unwrap().push(k);
                    }
                }
            })
        };
        // Let it start and append for a random 50..550 ms.
        let wait = Duration::from_millis(50 + rng.next() % 500);
        let deadline = Instant::now() + Duration::from_secs(5);
        std::thread::sleep(wait);
        while acked.lock().unwrap().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        let acked = acked.lock().unwrap().clone();
        assert!(
            !acked.is_empty(),
            "cycle {cycle}: the child acknowledged nothing"
        );

        let log = Log::open(FsIo::shared(), &dir, cfg()).unwrap();
        torn_total += log.recovery().torn_bytes;
        let mut expect = 1u128;
        for r in log.iter_from(0).unwrap() {
            let r = r.unwrap();
            assert_eq!(r.key, expect, "cycle {cycle}: hole or phantom");
            assert_eq!(&r.payload[..], &payload_for(r.key, payload_len(r.key))[..]);
            expect += 1;
        }
        let last = expect - 1;
        let top = *acked.iter().max().unwrap();
        assert!(
            last >= top,
            "cycle {cycle}: acknowledged {top} but the log ends at {last}"
        );
        // At most the four appends in flight can exceed what was acknowledged.
        assert!(
            last <= top + 4,
            "cycle {cycle}: {last} records but only {top} acknowledged"
        );
        total_acked += acked.len() as u64;
        max_acked = top;
    }
    eprintln!(
        "sigkill: {cycles} cycles, {total_acked} appends acknowledged, last key {max_acked}, \
         {torn_total} torn bytes truncated, 0 lost, in {:.1?}",
        started.elapsed()
    );
}
