//! Random sequences of append, roll, retain and reopen give the same reads
//! as an in-memory model, on the real file system and on the simulated disk.

mod common;

use std::collections::BTreeMap;

use brook::FsyncPolicy;
use brook::storage::{Entry, Log};
use common::{Disk, payload_for, small_cfg};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Append a batch: (gap to the previous key, payload length) per record.
    Append(Vec<(u64, usize)>),
    Reopen,
    /// Retain from the key at this fraction of the model's keys.
    RetainFrom(u8),
    RetainBytes(u64),
    Probe(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => prop::collection::vec((1u64..1000, 0usize..400), 1..6).prop_map(Op::Append),
        1 => Just(Op::Reopen),
        1 => any::<u8>().prop_map(Op::RetainFrom),
        1 => (2000u64..20_000).prop_map(Op::RetainBytes),
        3 => any::<u64>().prop_map(Op::Probe),
    ]
}

type Model = BTreeMap<u128, (u8, Vec<u8>)>;

fn check_reads(log: &Log, model: &Model, probe: u128) {
    let fwd: Vec<_> = log
        .iter_from(probe)
        .unwrap()
        .take(20)
        .map(|r| r.unwrap())
        .map(|r| (r.key, (r.kind, r.payload.to_vec())))
        .collect();
    let want: Vec<_> = model
        .range(probe..)
        .take(20)
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    assert_eq!(fwd, want, "forward from {probe}");
    let mut visited = Vec::new();
    log.iter_from(probe)
        .unwrap()
        .visit(|r| {
            visited.push((r.key, (r.kind, r.payload.to_vec())));
            visited.len() < 20
        })
        .unwrap();
    assert_eq!(visited, want, "visit from {probe}");
    let back: Vec<_> = log
        .iter_back_from(probe)
        .unwrap()
        .take(20)
        .map(|r| r.unwrap())
        .map(|r| (r.key, (r.kind, r.payload.to_vec())))
        .collect();
    let want: Vec<_> = model
        .range(..=probe)
        .rev()
        .take(20)
        .map(|(k, v)| (*k, v.clone()))
        .collect();
    assert_eq!(back, want, "backward from {probe}");
    assert_eq!(
        log.first_ge(probe).unwrap().map(|r| r.key),
        model.range(probe..).next().map(|(k, _)| *k)
    );
    assert_eq!(
        log.last_le(probe).unwrap().map(|r| r.key),
        model.range(..=probe).next_back().map(|(k, _)| *k)
    );
}

fn check_all(log: &Log, model: &Model) {
    let all: Vec<u128> = log.iter_from(0).unwrap().map(|r| r.unwrap().key).collect();
    assert_eq!(all, model.keys().copied().collect::<Vec<_>>());
    let back: Vec<u128> = log
        .iter_back_from(u128::MAX)
        .unwrap()
        .map(|r| r.unwrap().key)
        .collect();
    assert_eq!(back, model.keys().rev().copied().collect::<Vec<_>>());
    assert_eq!(log.first_key(), model.keys().next().copied());
    assert_eq!(log.last_key(), model.keys().next_back().copied());
}

fn run(disk: &Disk, ops: &[Op]) {
    let cfg = small_cfg(FsyncPolicy::No);
    let mut log = Some(Log::open(disk.io(), disk.dir(), cfg.clone()).unwrap());
    let mut model = Model::new();
    let mut next_key: u128 = 1 << 70;
    for op in ops {
        let l = log.as_ref().unwrap();
        match op {
            Op::Append(batch) => {
                let recs: Vec<(u8, u128, Vec<u8>)> = batch
                    .iter()
                    .map(|&(gap, len)| {
                        next_key += u128::from(gap);
                        let kind = (next_key % 200) as u8 + 1;
                        (kind, next_key, payload_for(next_key, len))
                    })
                    .collect();
                let entries: Vec<Entry> = recs
                    .iter()
                    .map(|(kind, key, p)| Entry {
                        kind: *kind,
                        key: *key,
                        payload: p,
                    })
                    .collect();
                l.append_batch(&entries).unwrap();
                for (kind, key, p) in recs {
                    model.insert(key, (kind, p));
                }
            }
            Op::Reopen => {
                drop(log.take());
                let l = Log::open(disk.io(), disk.dir(), cfg.clone()).unwrap();
                assert_eq!(l.recovery().torn_bytes, 0);
                log = Some(l);
            }
            Op::RetainFrom(frac) => {
                if model.is_empty() {
                    continue;
                }
                let i = (model.len() - 1) * usize::from(*frac) / 255;
                let key = *model.keys().nth(i).unwrap();
                l.retain_from(key).unwrap();
                let first = l.first_key().unwrap();
                assert!(first <= key, "retain_from dropped a key >= its bound");
                model.retain(|k, _| *k >= first);
            }
            Op::RetainBytes(max) => {
                l.retain_bytes(*max).unwrap();
                let first = l.first_key();
                model.retain(|k, _| first.is_some_and(|f| *k >= f));
                let segments = l.stats().segments;
                assert!(segments <= 1 || l.disk_bytes().unwrap() <= *max);
            }
            Op::Probe(p) => {
                let lo = model.keys().next().copied().unwrap_or(0);
                let hi = next_key + 10;
                let probe = lo.saturating_sub(5) + u128::from(*p) % (hi - lo.saturating_sub(5) + 1);
                check_reads(l, &model, probe);
            }
        }
    }
    check_all(log.as_ref().unwrap(), &model);
    drop(log.take());
    let l = Log::open(disk.io(), disk.dir(), cfg).unwrap();
    check_all(&l, &model);
}

proptest! {
    // PROPTEST_CASES runs more (48 by default, to keep CI short).
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(48)
    ))]

    #[test]
    fn model_on_real_files(ops in prop::collection::vec(op(), 1..60)) {
        run(&Disk::fs(), &ops);
    }

    #[test]
    fn model_on_simulated_disk(ops in prop::collection::vec(op(), 1..60)) {
        run(&Disk::sim(), &ops);
    }
}
