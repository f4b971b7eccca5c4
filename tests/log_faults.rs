//! Crash test (d), a full disk, and a failing fsync, on the simulated disk.
//! Also the group-commit count on the real file system.

mod common;

use std::sync::Arc;

use brook::storage::sim::SimIo;
use brook::storage::{FsIo, Io, Log};
use brook::{FsyncPolicy, StorageError};
use common::{payload_for, small_cfg};

fn keys(log: &Log) -> Vec<u128> {
    log.iter_from(0).unwrap().map(|r| r.unwrap().key).collect()
}

#[test]
fn disk_full_fails_cleanly_and_recovers_when_space_returns() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
        let sim = SimIo::new();
        let io: Arc<dyn Io> = sim.clone();
        let dir = std::path::PathBuf::from("/data/log");
        let log = Log::open(io.clone(), &dir, small_cfg(policy)).unwrap();
        for k in 1..=20u128 {
            log.append(1, k, &payload_for(k, 100)).unwrap();
        }
        // Leave room for a little more, then run out.
        sim.set_capacity(Some(sim.used() + 3000));
        let mut acked = 20u128;
        let err = loop {
            let k = acked + 1;
            match log.append(1, k, &payload_for(k, 100)) {
                Ok(_) => acked = k,
                Err(e) => break e,
            }
            assert!(acked < 10_000, "capacity never reached");
        };
        assert!(
            matches!(err, StorageError::NoSpace { .. }),
            "{policy:?}: {err}"
        );
        assert!(err.to_string().contains("no space left on device"), "{err}");
        // Reads keep working and hold exactly what was acknowledged.
        assert_eq!(keys(&log), (1..=acked).collect::<Vec<_>>());
        // Still full: a retry fails the same way and appends nothing.
        assert!(
            log.append(1, acked + 1, &[7u8; 100])
                .unwrap_err()
                .is_no_space()
        );
        assert_eq!(log.last_key(), Some(acked));
        // Space returns: appends work again on the same open log.
        sim.set_capacity(None);
        for k in acked + 1..=acked + 300 {
            log.append(1, k, &payload_for(k, 100)).unwrap();
        }
        let total = acked + 300;
        assert_eq!(keys(&log), (1..=total).collect::<Vec<_>>());
        log.sync().unwrap();
        drop(log);
        // And the whole history survives a power cut.
        let after = sim.power_cut();
        let log = Log::open(after, &dir, small_cfg(policy)).unwrap();
        assert_eq!(keys(&log), (1..=total).collect::<Vec<_>>(), "{policy:?}");
        for r in log.iter_from(0).unwrap() {
            let r = r.unwrap();
            assert_eq!(&r.payload[..], &payload_for(r.key, 100)[..]);
        }
    }
}

#[test]
fn disk_full_during_roll_and_index_write() {
    // A capacity just large enough to reach various points of a roll.
    for slack in (0..2600).step_by(37) {
        let sim = SimIo::new();
        let dir = std::path::PathBuf::from("/data/log");
        let log = Log::open(sim.clone(), &dir, small_cfg(FsyncPolicy::Always)).unwrap();
        let mut acked = 0u128;
        for k in 1..=30u128 {
            log.append(1, k, &payload_for(k, 120)).unwrap();
            acked = k;
        }
        sim.set_capacity(Some(sim.used() + slack));
        for k in 31..=200u128 {
            if log.append(1, k, &payload_for(k, 120)).is_err() {
                break;
            }
            acked = k;
        }
        sim.set_capacity(None);
        log.append(1, acked + 1, b"after").unwrap();
        acked += 1;
        assert_eq!(keys(&log), (1..=acked).collect::<Vec<_>>(), "slack {slack}");
        drop(log);
        let log = Log::open(sim.power_cut(), &dir, small_cfg(FsyncPolicy::Always)).unwrap();
        assert_eq!(
            keys(&log),
            (1..=acked).collect::<Vec<_>>(),
            "slack {slack} after power cut"
        );
    }
}

#[test]
fn failed_fsync_poisons_the_log_until_reopened() {
    let sim = SimIo::new();
    let dir = std::path::PathBuf::from("/data/log");
    let log = Log::open(sim.clone(), &dir, small_cfg(FsyncPolicy::Always)).unwrap();
    for k in 1..=10u128 {
        log.append(1, k, b"ok").unwrap();
    }
    sim.fail_syncs(1);
    let err = log.append(1, 11, b"lost?").unwrap_err();
    assert!(matches!(err, StorageError::Poisoned { .. }), "{err}");
    // Never pretends: every later write is refused, even with fsync healthy.
    let err = log.append(1, 12, b"no").unwrap_err();
    assert!(matches!(err, StorageError::Poisoned { .. }), "{err}");
    assert!(err.to_string().contains("reopen"), "{err}");
    assert!(log.sync().is_err());
    // Reads still work.
    assert_eq!(log.last_le(10).unwrap().unwrap().key, 10);
    drop(log);
    let log = Log::open(sim.clone(), &dir, small_cfg(FsyncPolicy::Always)).unwrap();
    let last = log.last_key().unwrap();
    assert!(last == 10 || last == 11);
    log.append(1, last + 1, b"fine").unwrap();
}

#[test]
fn concurrent_appenders_share_fsyncs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = small_cfg(FsyncPolicy::Always);
    cfg.segment_bytes = 1 << 20;
    let log = Arc::new(Log::open(FsIo::shared(), tmp.path().join("log"), cfg).unwrap());
    let next = Arc::new(std::sync::Mutex::new(0u128));
    let per_thread = 150;
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (log, next) = (log.clone(), next.clone());
            std::thread::spawn(move || {
                for _ in 0..per_thread {
                    let commit = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        log.submit(&[brook::storage::Entry {
                            kind: 1,
                            key: *n,
                            payload: b"group commit",
                        }])
                        .unwrap()
                    };
                    commit.wait().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let stats = log.stats();
    let appends = 8 * per_thread;
    assert_eq!(stats.appends, appends);
    assert_eq!(stats.synced, appends);
    assert!(
        stats.sync.syncs < appends,
        "{} fdatasyncs for {appends} appends: no group commit",
        stats.sync.syncs
    );
    eprintln!(
        "group commit: {appends} appends, {} fdatasyncs",
        stats.sync.syncs
    );
}

#[test]
fn async_commit_completes_without_blocking() {
    // A minimal executor: poll the future, park until woken.
    use std::future::Future;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::open(
        FsIo::shared(),
        tmp.path().join("log"),
        small_cfg(FsyncPolicy::Always),
    )
    .unwrap();
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut polls_pending = 0;
    for k in 1..=50u128 {
        let mut commit = std::pin::pin!(
            log.submit(&[brook::storage::Entry {
                kind: 1,
                key: k,
                payload: b"async"
            }])
            .unwrap()
        );
        loop {
            match commit.as_mut().poll(&mut cx) {
                Poll::Ready(r) => {
                    assert_eq!(r.unwrap(), k as u64);
                    break;
                }
                Poll::Pending => {
                    polls_pending += 1;
                    std::thread::park_timeout(std::time::Duration::from_secs(5));
                }
            }
        }
    }
    // The background syncer did the fdatasyncs: the futures were pending.
    assert!(polls_pending >= 50);
    let (stats, appends) = (log.stats(), 50);
    assert_eq!(stats.synced, appends);
}

#[test]
fn a_lone_inline_commit_syncs_on_the_polling_thread() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let tmp = tempfile::tempdir().unwrap();
    let log = Log::open(
        FsIo::shared(),
        tmp.path().join("log"),
        small_cfg(FsyncPolicy::Always),
    )
    .unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    for k in 1..=20u128 {
        let entry = brook::storage::Entry {
            kind: 1,
            key: k,
            payload: b"inline",
        };
        let mut commit = std::pin::pin!(log.submit(&[entry]).unwrap().inline_when_alone());
        // Nothing else waits: the first poll syncs and is ready.
        match commit.as_mut().poll(&mut cx) {
            Poll::Ready(r) => assert_eq!(r.unwrap(), k as u64),
            Poll::Pending => panic!("a lone inline commit was left pending"),
        }
        assert_eq!(log.stats().synced, k as u64);
    }
    assert_eq!(log.stats().sync.syncs, 20);
}

#[test]
fn bad_appends_are_refused_and_change_nothing() {
    let sim = SimIo::new();
    let mut cfg = small_cfg(FsyncPolicy::Always);
    cfg.max_record_bytes = 1000;
    let log = Log::open(sim, "/data/log", cfg).unwrap();
    log.append(1, 10, b"first").unwrap();
    let err = log.append(0, 11, b"kind zero").unwrap_err();
    assert!(matches!(err, StorageError::ReservedKind), "{err}");
    let err = log.append(1, 10, b"same key").unwrap_err();
    assert!(
        matches!(err, StorageError::KeyOrder { last: 10, got: 10 }),
        "{err}"
    );
    assert!(err.to_string().contains("must strictly increase"));
    let err = log.append(1, 11, &[0u8; 1001]).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::TooLarge {
                len: 1001,
                max: 1000
            }
        ),
        "{err}"
    );
    // A batch with one bad record appends none of them.
    let batch = [
        brook::storage::Entry {
            kind: 1,
            key: 11,
            payload: b"ok",
        },
        brook::storage::Entry {
            kind: 1,
            key: 11,
            payload: b"dup",
        },
    ];
    assert!(log.append_batch(&batch).is_err());
    assert_eq!(keys(&log), vec![10]);
    log.append(1, 11, b"second").unwrap();
    assert_eq!(keys(&log), vec![10, 11]);
}
