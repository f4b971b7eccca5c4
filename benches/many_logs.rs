//! The cost of many small logs: `N` logs (default 100 000) of 10 records
//! each in one data directory, then disk use, the time to reopen the store
//! and read every log, the RSS and open descriptors after that.
//!
//! `cargo bench --bench many_logs` (set `BROOK_MANY_LOGS` for another count,
//! `BROOK_BENCH_DIR` for another disk). Prints a markdown table.
#![allow(missing_docs)]

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Instant;

use brook::StoreConfig;
use brook::storage::{FsIo, Store};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// (allocated bytes, apparent bytes, files, directories) below `dir`.
fn disk_use(dir: &Path) -> (u64, u64, u64, u64) {
    let mut t = (0, 0, 0, 0);
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        t.0 += m.blocks() * 512;
        if m.is_dir() {
            t.3 += 1;
            let s = disk_use(&e.path());
            t.0 += s.0;
            t.1 += s.1;
            t.2 += s.2;
            t.3 += s.3;
        } else {
            t.1 += m.len();
            t.2 += 1;
        }
    }
    t
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: u64 = std::env::var("BROOK_MANY_LOGS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let tmp = match std::env::var_os("BROOK_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let root = tmp.path().join("data");
    let payload = [0x5au8; 100];

    let t = Instant::now();
    {
        let store = Store::open(FsIo::shared(), &root, StoreConfig::default()).unwrap();
        for i in 0..n {
            let log = store.log(&format!("agg-{i}")).unwrap();
            for k in 1..=10u128 {
                log.append(1, k, &payload).unwrap();
            }
        }
        store.sync_all().unwrap();
    }
    let create = t.elapsed();
    let (alloc, apparent, files, dirs) = disk_use(&root);

    let rss0 = rss_kib();
    let t = Instant::now();
    let store = Store::open(FsIo::shared(), &root, StoreConfig::default()).unwrap();
    let open_store = t.elapsed();
    let t = Instant::now();
    let names = store.list().unwrap();
    let list = t.elapsed();
    assert_eq!(names.len() as u64, n);
    let t = Instant::now();
    let mut records = 0u64;
    for name in &names {
        let log = store.log(name).unwrap();
        assert_eq!(log.last_key(), Some(10));
        records += log.iter_from(0).unwrap().count() as u64;
    }
    let read_all = t.elapsed();
    assert_eq!(records, n * 10);
    let rss1 = rss_kib();

    println!("| measurement | value |");
    println!("|---|---:|");
    println!("| logs × records (100 B payload) | {n} × 10 |");
    println!(
        "| create and append, everysec, then sync | {:.1} s |",
        create.as_secs_f64()
    );
    println!(
        "| disk allocated (du) | {:.1} MiB = {:.1} KiB per log |",
        alloc as f64 / 1048576.0,
        alloc as f64 / 1024.0 / n as f64
    );
    println!(
        "| apparent bytes | {:.1} MiB = {} B per log |",
        apparent as f64 / 1048576.0,
        apparent / n
    );
    println!("| files / directories | {files} / {dirs} |");
    println!("| Store::open | {:.2} ms |", open_store.as_secs_f64() * 1e3);
    println!("| list {n} logs | {:.1} ms |", list.as_secs_f64() * 1e3);
    println!(
        "| open every log (tail recovery) and read all records | {:.2} s = {:.1} µs per log |",
        read_all.as_secs_f64(),
        read_all.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "| logs open afterwards (max_open_logs) | {} |",
        store.open_logs()
    );
    println!("| open file descriptors afterwards | {} |", open_fds());
    println!(
        "| RSS before / after reading all | {:.1} / {:.1} MiB |",
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0
    );
}
