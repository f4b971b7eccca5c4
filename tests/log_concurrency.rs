//! Readers run alongside the writer and see only complete records; the
//! `everysec` flusher covers many logs of a store with one pass.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use brook::storage::sim::SimIo;
use brook::storage::{FsIo, Log, Store};
use brook::{FsyncPolicy, StoreConfig};
use common::{payload_for, small_cfg};

#[test]
fn readers_see_only_complete_records_while_the_writer_appends() {
    let tmp = tempfile::tempdir().unwrap();
    // Small segments, so that readers often reach the end of the active
    // segment just as it rolls.
    let mut cfg = small_cfg(FsyncPolicy::No);
    cfg.segment_bytes = 64 << 10;
    let log = Arc::new(Log::open(FsIo::shared(), tmp.path().join("log"), cfg).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let total = 20_000u128;
    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (log, done) = (log.clone(), done.clone());
            std::thread::spawn(move || {
                let mut passes = 0;
                let mut longest = 0u128;
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let mut expect = 1u128;
                    let it = if r == 2 {
                        // Backward from the end.
                        let recs: Vec<_> = log.iter_back_from(u128::MAX).unwrap().collect();
                        let mut keys: Vec<u128> = Vec::new();
                        for rec in recs {
                            let rec = rec.unwrap();
                            assert_eq!(
                                &rec.payload[..],
                                &payload_for(rec.key, (rec.key % 97) as usize)[..]
                            );
                            keys.push(rec.key);
                        }
                        keys.reverse();
                        keys
                    } else {
                        let mut keys = Vec::new();
                        for rec in log.iter_from(0).unwrap() {
                            let rec = rec.unwrap();
                            assert_eq!(
                                &rec.payload[..],
                                &payload_for(rec.key, (rec.key % 97) as usize)[..]
                            );
                            keys.push(rec.key);
                        }
                        keys
                    };
                    for k in &it {
                        assert_eq!(*k, expect, "reader {r} saw a hole");
                        expect += 1;
                    }
                    longest = longest.max(expect - 1);
                    passes += 1;
                    if finished {
                        assert_eq!(expect - 1, total);
                        return (passes, longest);
                    }
                }
            })
        })
        .collect();
    for k in 1..=total {
        log.append(1, k, &payload_for(k, (k % 97) as usize))
            .unwrap();
    }
    done.store(true, Ordering::Release);
    for r in readers {
        let (passes, longest) = r.join().unwrap();
        assert!(passes >= 2, "the reader ran alongside the writer");
        assert_eq!(longest, total);
    }
}

#[test]
fn everysec_flushes_many_dirty_logs_in_one_pass() {
    let sim = SimIo::new();
    let cfg = StoreConfig {
        log: small_cfg(FsyncPolicy::EverySec),
        max_open_logs: 100,
    };
    let store = Store::open(sim.clone(), "/data", cfg.clone()).unwrap();
    let logs: Vec<_> = (0..40)
        .map(|i| store.log(&format!("s{i}")).unwrap())
        .collect();
    for (i, log) in logs.iter().enumerate() {
        for k in 1..=5u128 {
            log.append(1, k, &payload_for(k + i as u128, 50)).unwrap();
        }
    }
    std::thread::sleep(Duration::from_millis(2200));
    // Nothing closed or synced by hand: only the flusher made this durable.
    let after = sim.power_cut();
    let store2 = Store::open(after, "/data", cfg).unwrap();
    for i in 0..40 {
        let log = store2.log(&format!("s{i}")).unwrap();
        let keys: Vec<u128> = log.iter_from(0).unwrap().map(|r| r.unwrap().key).collect();
        assert_eq!(keys, vec![1, 2, 3, 4, 5], "log s{i}");
    }
    assert!(logs.iter().all(|l| l.stats().synced == 5));
}

#[test]
fn readers_survive_retention_running_alongside() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = small_cfg(FsyncPolicy::No);
    cfg.segment_bytes = 4096;
    let log = Arc::new(Log::open(FsIo::shared(), tmp.path().join("log"), cfg).unwrap());
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (log, done) = (log.clone(), done.clone());
            std::thread::spawn(move || {
                let mut passes = 0u64;
                while !done.load(Ordering::Acquire) {
                    let mut prev = 0u128;
                    let records: Box<dyn Iterator<Item = _>> = if r == 0 {
                        Box::new(log.iter_from(0).unwrap())
                    } else {
                        Box::new(log.iter_back_from(u128::MAX).unwrap())
                    };
                    for rec in records {
                        let rec = rec.expect("no error while retention runs");
                        assert_eq!(&rec.payload[..], &payload_for(rec.key, 60)[..]);
                        if r == 0 {
                            assert!(rec.key > prev, "forward order");
                        } else {
                            assert!(prev == 0 || rec.key < prev, "backward order");
                        }
                        prev = rec.key;
                    }
                    passes += 1;
                }
                passes
            })
        })
        .collect();
    for k in 1..=20_000u128 {
        log.append(1, k, &payload_for(k, 60)).unwrap();
        if k % 500 == 0 {
            log.retain_from(k - 400).unwrap();
        }
    }
    done.store(true, Ordering::Release);
    for r in readers {
        assert!(r.join().unwrap() >= 1);
    }
    let first = log.first_key().unwrap();
    assert!(first > 1 && first <= 19_600);
    let n = log.iter_from(0).unwrap().count() as u128;
    assert_eq!(n, 20_000 - first + 1);
}
