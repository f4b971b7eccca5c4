#![allow(missing_docs)]
//! Storage benches: append throughput per policy and record size, group
//! commit under `always`, and sequential reads. Figures and how to read them
//! are in docs/benchmarks.md.
//!
//! Set `BROOK_BENCH_DIR` to put the logs on a given disk (default: the
//! system temp directory).

use std::path::PathBuf;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use brook::storage::{Entry, FsIo, Log};
use brook::{FsyncPolicy, LogConfig};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("BROOK_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(PathBuf::from(d)).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

fn cfg(fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        fsync,
        ..LogConfig::default()
    }
}

/// A log that rolls and is dropped as it grows, so that long runs do not
/// fill the disk: every `LIMIT` bytes the log is deleted and reopened.
struct Sink {
    dir: tempfile::TempDir,
    log: Option<Log>,
    key: u128,
    bytes: u64,
    policy: FsyncPolicy,
}

const LIMIT: u64 = 1 << 30;

impl Sink {
    fn new(policy: FsyncPolicy) -> Sink {
        let dir = bench_dir();
        let log = Log::open(FsIo::shared(), dir.path().join("log"), cfg(policy)).unwrap();
        Sink {
            dir,
            log: Some(log),
            key: 0,
            bytes: 0,
            policy,
        }
    }

    fn log(&mut self) -> &Log {
        if self.bytes > LIMIT {
            drop(self.log.take());
            let path = self.dir.path().join("log");
            std::fs::remove_dir_all(&path).unwrap();
            self.log = Some(Log::open(FsIo::shared(), path, cfg(self.policy)).unwrap());
            self.bytes = 0;
        }
        self.log.as_ref().unwrap()
    }

    fn append(&mut self, payload: &[u8]) {
        self.key += 1;
        let key = self.key;
        self.bytes += payload.len() as u64 + 26;
        self.log().append(1, key, payload).unwrap();
    }

    fn append_batch(&mut self, payload: &[u8], n: usize) {
        let first = self.key + 1;
        self.key += n as u128;
        self.bytes += (payload.len() as u64 + 26) * n as u64;
        let entries: Vec<Entry> = (0..n)
            .map(|i| Entry {
                kind: 1,
                key: first + i as u128,
                payload,
            })
            .collect();
        self.log().append_batch(&entries).unwrap();
    }
}

fn appends(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    for size in [100usize, 1024] {
        let payload = vec![0x5au8; size];
        for policy in [FsyncPolicy::No, FsyncPolicy::EverySec] {
            g.throughput(Throughput::Bytes(size as u64));
            let mut sink = Sink::new(policy);
            g.bench_function(BenchmarkId::new(policy.as_str(), size), |b| {
                b.iter(|| sink.append(&payload))
            });
            // The same records, 64 per call: one pwrite per batch.
            g.throughput(Throughput::Bytes(size as u64 * 64));
            let mut sink = Sink::new(policy);
            g.bench_function(
                BenchmarkId::new(format!("{}-batch64", policy.as_str()), size),
                |b| b.iter(|| sink.append_batch(&payload, 64)),
            );
        }
        g.throughput(Throughput::Bytes(size as u64));
        fdatasync_baseline(&mut g, size);
        let mut sink = Sink::new(FsyncPolicy::Always);
        g.bench_function(BenchmarkId::new("always", size), |b| {
            b.iter(|| sink.append(&payload))
        });
    }
    g.finish();
}

/// The floor `always` is measured against: pwrite of one record's bytes
/// into a preallocated file, then fdatasync, with no log around it.
fn fdatasync_baseline(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    size: usize,
) {
    use std::os::unix::fs::FileExt;
    let dir = bench_dir();
    let file = std::fs::File::options()
        .create(true)
        .read(true)
        .write(true)
        .truncate(true)
        .open(dir.path().join("raw"))
        .unwrap();
    let buf = vec![0x5au8; size + 26];
    let mut off = 0u64;
    let mut allocated = 0u64;
    g.bench_function(BenchmarkId::new("raw-pwrite-fdatasync", size), |b| {
        b.iter(|| {
            if off + buf.len() as u64 > allocated {
                allocated = (allocated * 2).clamp(4096, 8 << 20) + allocated;
                rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, allocated)
                    .unwrap();
            }
            file.write_all_at(&buf, off).unwrap();
            rustix::fs::fdatasync(&file).unwrap();
            off += buf.len() as u64;
        })
    });
}

/// `always` with 8 threads appending at once: throughput in appends.
fn group_commit(c: &mut Criterion) {
    let mut g = c.benchmark_group("always-appenders");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for threads in [1usize, 8] {
        g.throughput(Throughput::Elements(1));
        g.bench_function(BenchmarkId::from_parameter(threads), |b| {
            b.iter_custom(|iters| {
                let dir = bench_dir();
                let log = Arc::new(
                    Log::open(
                        FsIo::shared(),
                        dir.path().join("log"),
                        cfg(FsyncPolicy::Always),
                    )
                    .unwrap(),
                );
                let next = Arc::new(Mutex::new(0u128));
                let per = iters.div_ceil(threads as u64);
                let start = Arc::new(Barrier::new(threads + 1));
                let handles: Vec<_> = (0..threads)
                    .map(|_| {
                        let (log, next, start) = (log.clone(), next.clone(), start.clone());
                        std::thread::spawn(move || {
                            start.wait();
                            for _ in 0..per {
                                let commit = {
                                    let mut n = next.lock().unwrap();
                                    *n += 1;
                                    log.submit(&[Entry {
                                        kind: 1,
                                        key: *n,
                                        payload: &[0x5a; 100],
                                    }])
                                    .unwrap()
                                };
                                commit.wait().unwrap();
                            }
                        })
                    })
                    .collect();
                start.wait();
                let t = Instant::now();
                for h in handles {
                    h.join().unwrap();
                }
                let elapsed = t.elapsed();
                // Report per append, counting every append made.
                elapsed.mul_f64(iters as f64 / (per * threads as u64) as f64)
            })
        });
    }
    g.finish();
}

fn reads(c: &mut Criterion) {
    let mut g = c.benchmark_group("read");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for size in [100usize, 1024] {
        let dir = bench_dir();
        let log = Log::open(FsIo::shared(), dir.path().join("log"), cfg(FsyncPolicy::No)).unwrap();
        let total: u64 = 256 << 20;
        let n = total / (size as u64 + 26);
        let payload = vec![0x5au8; size];
        let mut key = 0u128;
        while key < u128::from(n) {
            let entries: Vec<Entry> = (0..256)
                .map(|i| Entry {
                    kind: 1,
                    key: key + 1 + i,
                    payload: &payload,
                })
                .collect();
            log.append_batch(&entries).unwrap();
            key += 256;
        }
        let bytes: u64 = key as u64 * size as u64;
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(BenchmarkId::new("forward", size), |b| {
            b.iter(|| {
                let mut sum = 0usize;
                for r in log.iter_from(0).unwrap() {
                    sum += r.unwrap().payload.len();
                }
                assert_eq!(sum as u64, bytes);
            })
        });
        g.bench_function(BenchmarkId::new("visit", size), |b| {
            b.iter(|| {
                let mut sum = 0usize;
                log.iter_from(0)
                    .unwrap()
                    .visit(|r| {
                        sum += r.payload.len();
                        true
                    })
                    .unwrap();
                assert_eq!(sum as u64, bytes);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, appends, group_commit, reads);
criterion_main!(benches);
