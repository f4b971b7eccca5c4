//! Crash test (e), power loss, on the simulated disk: everything not covered
//! by a completed fdatasync (file bytes) or directory fsync (names) is lost.
//! After the cut, recovery must hold every append acknowledged under
//! `Always`, a prefix of the rest, and nothing torn.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use brook::FsyncPolicy;
use brook::storage::sim::SimIo;
use brook::storage::{Entry, Log};
use common::{payload_for, small_cfg};

fn payload_len(key: u128) -> usize {
    (key as usize * 29) % 250
}

/// Checks the log after a cut: an unbroken run 1..=m of intact records.
fn check_prefix(log: &Log) -> u128 {
    let mut expect = 1u128;
    for r in log.iter_from(0).unwrap() {
        let r = r.unwrap();
        assert_eq!(r.key, expect, "hole or phantom after power cut");
        assert_eq!(
            &r.payload[..],
            &payload_for(r.key, payload_len(r.key))[..],
            "torn record"
        );
        expect += 1;
    }
    expect - 1
}

/// Four threads append under `policy` while the power is cut at a moment
/// chosen by `cut_after` acknowledged appends. Returns (acked max, recovered).
fn cut_during_appends(policy: FsyncPolicy, cut_after: usize, round: u64) -> (u128, u128) {
    let sim = SimIo::new();
    let dir = PathBuf::from("/disk/log");
    let log = Arc::new(Log::open(sim.clone(), &dir, small_cfg(policy)).unwrap());
    let next = Arc::new(Mutex::new(0u128));
    let acked = Arc::new(Mutex::new(Vec::<u128>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (log, next, acked, stop) = (log.clone(), next.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (key, commit) = {
                        let mut n = next.lock().unwrap();
                        let key = *n + 1;
                        let p = payload_for(key, payload_len(key));
                        let c = log
                            .submit(&[Entry {
                                kind: 1,
                                key,
                                payload: &p,
                            }])
                            .unwrap();
                        *n = key;
                        (key, c)
                    };
                    commit.wait().unwrap();
                    acked.lock().unwrap().push(key);
                }
            })
        })
        .collect();
    while acked.lock().unwrap().len() < cut_after {
        std::thread::yield_now();
    }
    // Everything acknowledged so far was durable before the cut begins.
    let acked_before: Vec<u128> = acked.lock().unwrap().clone();
    let after = sim.power_cut();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    drop(log);
    let log = Log::open(after.clone(), &dir, small_cfg(policy))
        .unwrap_or_else(|e| panic!("{policy:?} round {round}: reopen failed: {e}"));
    let recovered = check_prefix(&log);
    let top = acked_before.iter().copied().max().unwrap_or(0);
    if policy == FsyncPolicy::Always {
        assert!(
            recovered >= top,
            "round {round}: acknowledged up to {top} under always, recovered {recovered}"
        );
    }
    // Appends work after recovery, and a second cut keeps them.
    log.append(
        1,
        recovered + 1,
        &payload_for(recovered + 1, payload_len(recovered + 1)),
    )
    .unwrap();
    log.sync().unwrap();
    drop(log);
    let log = Log::open(after.power_cut(), &dir, small_cfg(policy)).unwrap();
    assert_eq!(check_prefix(&log), recovered + 1);
    (top, recovered)
}

#[test]
fn power_cut_keeps_every_acknowledged_append_under_always() {
    let mut lost_behind = 0;
    for round in 0..40u64 {
        let (top, recovered) =
            cut_during_appends(FsyncPolicy::Always, 50 + (round as usize * 97) % 700, round);
        assert!(recovered >= top);
        lost_behind += recovered - top;
    }
    eprintln!(
        "always: 40 cuts, 0 acknowledged appends lost ({lost_behind} unacknowledged survived)"
    );
}

#[test]
fn power_cut_leaves_a_prefix_under_everysec_and_no() {
    for policy in [FsyncPolicy::EverySec, FsyncPolicy::No] {
        for round in 0..15u64 {
            cut_during_appends(policy, 50 + (round as usize * 131) % 900, round);
        }
    }
}

#[test]
fn everysec_flusher_makes_appends_durable_within_two_seconds() {
    let sim = SimIo::new();
    let dir = PathBuf::from("/disk/log");
    let log = Log::open(sim.clone(), &dir, small_cfg(FsyncPolicy::EverySec)).unwrap();
    for k in 1..=500u128 {
        log.append(1, k, &payload_for(k, payload_len(k))).unwrap();
    }
    // Before the flusher ran, a cut may lose them; after it, not.
    std::thread::sleep(Duration::from_millis(2100));
    let log2 = Log::open(sim.power_cut(), &dir, small_cfg(FsyncPolicy::EverySec)).unwrap();
    assert_eq!(check_prefix(&log2), 500);
    assert!(log.stats().sync.syncs >= 1);
}

#[test]
fn no_policy_loses_unsynced_appends_on_power_cut() {
    // The simulated disk really drops what was not synced: under `No`
    // nothing is synced, so a cut right after appends loses them (this is
    // what tells the policies apart, which SIGKILL cannot).
    let sim = SimIo::new();
    let dir = PathBuf::from("/disk/log");
    let log = Log::open(sim.clone(), &dir, small_cfg(FsyncPolicy::No)).unwrap();
    for k in 1..=50u128 {
        log.append(1, k, &payload_for(k, payload_len(k))).unwrap();
    }
    let after = sim.power_cut();
    let log2 = Log::open(after, &dir, small_cfg(FsyncPolicy::No)).unwrap();
    assert!(check_prefix(&log2) < 50);
    drop(log);
}

#[test]
fn power_cut_right_after_a_roll_removes_the_blank_segment() {
    let sim = SimIo::new();
    let dir = PathBuf::from("/disk/log");
    let log = Log::open(sim.clone(), &dir, small_cfg(FsyncPolicy::No)).unwrap();
    let mut k = 0u128;
    while log.stats().segments < 2 {
        k += 1;
        log.append(1, k, &payload_for(k, payload_len(k))).unwrap();
        if log.stats().segments < 2 {
            log.sync().unwrap();
        }
    }
    // The new segment's name is durable (directory fsync at roll), its
    // header and record are not.
    let log2 = Log::open(sim.power_cut(), &dir, small_cfg(FsyncPolicy::No)).unwrap();
    assert_eq!(log2.recovery().removed_segments, 1);
    assert_eq!(check_prefix(&log2), k - 1);
    log2.append(1, k, &payload_for(k, payload_len(k))).unwrap();
    assert_eq!(check_prefix(&log2), k);
    drop(log);
}
