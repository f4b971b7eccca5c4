//! Arbitrary sequences of stream, group and list operations, with the engine
//! reopened and its journal compacted along the way, on the simulated disk:
//! every reply and every state after each operation is the reference
//! model's (`tests/model`, shared with the property test
//! `tests/engine_model.rs`).
#![no_main]

#[path = "../../tests/model/mod.rs"]
mod model;

use brook::engine::keyspace::{Engine, EngineConfig};
use brook::storage::sim::SimIo;
use brook::{FsyncPolicy, LogConfig, StoreConfig};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use model::Op;

fn id(u: &mut Unstructured) -> Result<(u64, u64)> {
    Ok((u.int_in_range(0..=39)?, u.int_in_range(0..=2)?))
}

fn ids(u: &mut Unstructured) -> Result<Vec<(u64, u64)>> {
    (0..u.int_in_range(1..=3)?).map(|_| id(u)).collect()
}

fn op(u: &mut Unstructured) -> Result<Op> {
    let g = u.int_in_range(0..=1)?;
    let c = u.int_in_range(0..=2)?;
    Ok(match u.int_in_range(0..=20)? {
        0..=3 => Op::Add {
            auto: u.arbitrary()?,
            dms: u.int_in_range(0..=2)?,
            seq: u.int_in_range(0..=2)?,
            nf: u.int_in_range(1..=3)?,
            v: u.arbitrary()?,
        },
        4 => Op::Del(ids(u)?),
        5 => Op::DelNth(u.int_in_range(0..=19)?),
        6 => Op::TrimLen(u.int_in_range(0..=11)?),
        7 => Op::TrimMin(u.int_in_range(0..=39)?),
        8 => Op::Range(
            u.int_in_range(0..=39)?,
            u.int_in_range(0..=39)?,
            opt_count(u)?,
        ),
        9 => Op::RevRange(
            u.int_in_range(0..=39)?,
            u.int_in_range(0..=39)?,
            opt_count(u)?,
        ),
        10 => Op::Create(g, u.arbitrary()?),
        11 => Op::ReadNew(g, c, opt_count(u)?.map(|n| n.max(1)), u.arbitrary()?),
        12 => Op::ReadPending(g, c, u.int_in_range(0..=39)?),
        13 => Op::Ack(g, ids(u)?),
        14 => Op::Summary(g),
        15 => Op::Claim(g, c, ids(u)?),
        16 => Op::AutoClaim(g, c, u.int_in_range(0..=39)?, u.int_in_range(1..=3)?),
        17 => match u.int_in_range(0..=3)? {
            0 => Op::Tick,
            1 => Op::Retain(u.int_in_range(0..=16383)?),
            2 => Op::Reopen,
            _ => Op::Compact,
        },
        18 => Op::Push {
            list: u.int_in_range(0..=1)?,
            tail: u.arbitrary()?,
            n: u.int_in_range(1..=3)?,
            v: u.arbitrary()?,
        },
        19 => Op::Pop {
            list: u.int_in_range(0..=1)?,
            tail: u.arbitrary()?,
            count: u.int_in_range(1..=3)?,
        },
        _ => Op::LMove {
            from: u.int_in_range(0..=1)?,
            to: u.int_in_range(0..=1)?,
            from_tail: u.arbitrary()?,
            to_tail: u.arbitrary()?,
        },
    })
}

fn opt_count(u: &mut Unstructured) -> Result<Option<usize>> {
    Ok(if u.arbitrary()? {
        Some(u.int_in_range(0..=5)?)
    } else {
        None
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < 200 {
        match op(&mut u) {
            Ok(o) => ops.push(o),
            Err(_) => break,
        }
    }
    let sim = SimIo::new();
    let open = || {
        let cfg = EngineConfig {
            store: StoreConfig {
                log: LogConfig {
                    fsync: FsyncPolicy::No,
                    segment_bytes: 4096,
                    ..LogConfig::default()
                },
                ..StoreConfig::default()
            },
            ..EngineConfig::default()
        };
        match Engine::open_with(sim.clone(), "/d", cfg) {
            Ok(e) => e,
            Err(e) => panic!("reopening the engine failed: {e}"),
        }
    };
    if let Err(e) = model::run(ops, &open) {
        panic!("the engine and the model disagree: {e}");
    }
});
