//! Open time does not depend on data size: opening a log of 10 GiB takes as
//! long as opening one of 10 MiB, because only the last segment's tail is
//! read. Prints a markdown table (median of 9 opens each).
//!
//! `cargo bench --bench open_time`; `BROOK_OPEN_GIB` sets the large size
//! (default 10), `BROOK_BENCH_DIR` the disk.
#![allow(missing_docs)]

use std::path::Path;
use std::time::{Duration, Instant};

use brook::storage::{Entry, FsIo, Log};
use brook::{FsyncPolicy, LogConfig};

fn fill(dir: &Path, bytes: u64) {
    let log = Log::open(
        FsIo::shared(),
        dir,
        LogConfig {
            fsync: FsyncPolicy::No,
            ..Default::default()
        },
    )
    .unwrap();
    let payload = vec![0x5au8; 1024];
    let mut key = 0u128;
    let mut written = 0u64;
    while written < bytes {
        let entries: Vec<Entry> = (1..=256)
            .map(|i| Entry {
                kind: 1,
                key: key + i,
                payload: &payload,
            })
            .collect();
        log.append_batch(&entries).unwrap();
        key += 256;
        written += 256 * 1050;
    }
    log.sync().unwrap();
}

/// Median times of (open alone, open + first + last record), and segments.
fn median_open(dir: &Path) -> (Duration, Duration, usize) {
    let mut open = Vec::new();
    let mut both = Vec::new();
    let mut segments = 0;
    for _ in 0..9 {
        let t = Instant::now();
        let log = Log::open(FsIo::shared(), dir, LogConfig::default()).unwrap();
        open.push(t.elapsed());
        let first = log.first_ge(0).unwrap().map(|r| r.key);
        let last = log.last_le(u128::MAX).unwrap().map(|r| r.key);
        both.push(t.elapsed());
        assert!(first.is_some() && last.is_some());
        segments = log.stats().segments;
    }
    open.sort();
    both.sort();
    (open[4], both[4], segments)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let gib: u64 = std::env::var("BROOK_OPEN_GIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let tmp = match std::env::var_os("BROOK_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let small = tmp.path().join("small");
    let large = tmp.path().join("large");
    fill(&small, 10 << 20);
    let t = Instant::now();
    fill(&large, gib << 30);
    let fill_time = t.elapsed();
    let (so, sb, s_segs) = median_open(&small);
    let (lo, lb, l_segs) = median_open(&large);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("| log | segments | open (median of 9) | open + read first and last record |");
    println!("|---|---:|---:|---:|");
    println!(
        "| 10 MiB | {s_segs} | {:.0} µs | {:.0} µs |",
        us(so),
        us(sb)
    );
    println!(
        "| {gib} GiB (written in {:.1} s) | {l_segs} | {:.0} µs | {:.0} µs |",
        fill_time.as_secs_f64(),
        us(lo),
        us(lb)
    );
    println!(
        "| ratio large / small | | {:.2} | {:.2} |",
        us(lo) / us(so),
        us(lb) / us(sb)
    );
}
