//! Restart of a large stream: 10 M entries of one 100-byte field, 3 consumer
//! groups and 100 k pending entries, reopened in a fresh process and made
//! fully readable (first and last entry, XPENDING, XINFO). Prints the
//! median open time of 9 runs, the private RAM (RssAnon) the open added,
//! and bytes on disk per entry.
//!
//! `cargo bench --bench engine_restart`; `BROOK_RESTART_ENTRIES` sets the
//! entry count (default 10,000,000), `BROOK_BENCH_DIR` the disk (the data
//! is kept there between runs).
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use bytes::Bytes;

use brook::engine::groups::{GroupRead, GroupStart};
use brook::engine::id::{AddId, StreamId};
use brook::engine::keyspace::{Engine, EngineConfig};
use brook::engine::stream::wait_all;
use brook::{FsyncPolicy, LogConfig, StoreConfig};

fn config() -> EngineConfig {
    EngineConfig {
        store: StoreConfig {
            log: LogConfig {
                fsync: FsyncPolicy::No,
                ..LogConfig::default()
            },
            ..StoreConfig::default()
        },
        ..EngineConfig::default()
    }
}

fn rss_anon_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn dir_bytes(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let md = match e.metadata() {
                Ok(m) => m,
                Err(_) => continue,
            };
            if md.is_dir() {
                total += dir_bytes(&e.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

fn build(dir: &Path, n: u64) {
    let t = Instant::now();
    let e = Engine::open(dir, config()).unwrap();
    let s = e.stream_or_create(0, b"events").unwrap();
    let field = Bytes::from_static(b"payload");
    let limits = e.node_limits();
    for i in 0..n {
        let mut v = format!("{i:020}").into_bytes();
        v.resize(100, b'x');
        let f = [(field.clone(), Bytes::from(v))];
        let (_, c) = s
            .add(
                AddId::Auto,
                &f,
                None,
                None,
                1_700_000_000_000 + i / 1000,
                limits,
            )
            .unwrap();
        wait_all(c).unwrap();
    }
    let names: Vec<Bytes> = ["g1", "g2", "g3"].iter().map(|g| Bytes::from(*g)).collect();
    for g in &names[..2] {
        wait_all(
            s.create_group(g, GroupStart::Id(StreamId::MIN), None)
                .unwrap(),
        )
        .unwrap();
    }
    wait_all(s.create_group(&names[2], GroupStart::Last, None).unwrap()).unwrap();
    let now = 1_800_000_000_000;
    for _ in 0..10 {
        let c = Bytes::from_static(b"worker-1");
        let (_, cm) = s
            .read_group(
                b"events",
                &names[0],
                &c,
                GroupRead::New,
                Some(10_000),
                false,
                now,
            )
            .unwrap();
        wait_all(cm).unwrap();
    }
    for _ in 0..5 {
        let c = Bytes::from_static(b"worker-2");
        let (got, cm) = s
            .read_group(
                b"events",
                &names[1],
                &c,
                GroupRead::New,
                Some(10_000),
                false,
                now,
            )
            .unwrap();
        wait_all(cm).unwrap();
        let ids: Vec<StreamId> = got.iter().map(|x| x.0).collect();
        wait_all(s.ack(&names[1], &ids).unwrap().1).unwrap();
    }
    e.sync().unwrap();
    std::fs::write(dir.join("bench-complete"), n.to_string()).unwrap();
    eprintln!("built {n} entries in {:.1?}", t.elapsed());
}

/// Child: open, make readable, print "open_us rss_delta_kib rss_kib".
fn open_once(dir: &Path) {
    let before = rss_anon_kib();
    let t = Instant::now();
    let e = Engine::open(dir, config()).unwrap();
    let s = e.stream(0, b"events").unwrap().unwrap();
    let first = s.range(StreamId::MIN, StreamId::MAX, Some(1)).unwrap();
    let last = s.rev_range(StreamId::MAX, StreamId::MIN, Some(1)).unwrap();
    let p = s.pending_summary(b"events", b"g1").unwrap();
    let info = s.info();
    let groups = s.groups_info();
    let el = t.elapsed();
    assert!(!first.is_empty() && !last.is_empty());
    assert_eq!(p.count, 100_000);
    assert_eq!(groups.len(), 3);
    let after = rss_anon_kib();
    println!(
        "{} {} {} {}",
        el.as_micros(),
        after.saturating_sub(before),
        after,
        info.length
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = std::env::var("BROOK_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let n: u64 = std::env::var("BROOK_RESTART_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let dir = base.join(format!("brook-restart-{n}"));
    if args.iter().any(|a| a == "--open-once") {
        open_once(&dir);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if std::fs::read_to_string(dir.join("bench-complete"))
        .ok()
        .as_deref()
        != Some(n.to_string().as_str())
    {
        let _ = std::fs::remove_dir_all(&dir);
        build(&dir, n);
    }
    let exe = std::env::current_exe().unwrap();
    let mut runs: Vec<(u64, u64, u64, u64)> = Vec::new();
    for _ in 0..9 {
        let out = Command::new(&exe).arg("--open-once").output().unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        let v: Vec<u64> = s
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        assert_eq!(
            v.len(),
            4,
            "child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        runs.push((v[0], v[1], v[2], v[3]));
    }
    runs.sort();
    let (us, delta, rss, len) = runs[4];
    let disk = dir_bytes(&dir);
    println!(
        "| entries | open + readable (median of 9) | RssAnon added by open | RssAnon total | disk bytes | disk per entry |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {len} | {:.1} ms | {delta} KiB ({:.2} B/entry) | {rss} KiB | {disk} | {:.1} B |",
        us as f64 / 1000.0,
        delta as f64 * 1024.0 / len as f64,
        disk as f64 / len as f64
    );
}
