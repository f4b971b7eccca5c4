//! `Stream::add_many` (a pipeline of XADDs written with one write): the same
//! entries as one-by-one appends, per-entry errors among them, and a failed
//! write (disk full) that changes nothing, before and after a reopen.

use std::path::PathBuf;

use bytes::Bytes;

use brook::engine::id::{AddId, StreamId};
use brook::engine::keyspace::{Engine, EngineConfig};
use brook::engine::stream::NodeLimits;
use brook::storage::sim::SimIo;
use brook::{FsyncPolicy, LogConfig, StoreConfig};

fn cfg() -> EngineConfig {
    EngineConfig {
        store: StoreConfig {
            log: LogConfig {
                fsync: FsyncPolicy::Always,
                segment_bytes: 16 << 10,
                ..LogConfig::default()
            },
            ..StoreConfig::default()
        },
        ..EngineConfig::default()
    }
}

fn fields(i: u64) -> Vec<(Bytes, Bytes)> {
    vec![
        (Bytes::from_static(b"n"), Bytes::from(i.to_string())),
        (Bytes::from_static(b"pad"), Bytes::from(vec![b'x'; 200])),
    ]
}

fn id(ms: u64) -> StreamId {
    StreamId { ms, seq: 0 }
}

#[test]
fn a_batch_equals_one_by_one_and_a_failed_write_changes_nothing() {
    let sim = SimIo::new();
    let dir = PathBuf::from("/data");
    let limits = NodeLimits {
        max_entries: 7,
        max_bytes: 0,
    };
    let e = Engine::open_with(sim.clone(), &dir, cfg()).unwrap();
    let one = e.stream_or_create(0, b"one").unwrap();
    let many = e.stream_or_create(0, b"many").unwrap();
    let all: Vec<Vec<(Bytes, Bytes)>> = (1..=40).map(fields).collect();
    for (i, f) in all.iter().enumerate() {
        let (_, c) = one
            .add(AddId::Explicit(id(i as u64 + 1)), f, None, None, 0, limits)
            .unwrap();
        brook::engine::stream::wait_all(c).unwrap();
    }
    // The same entries in batches of 8, with a refused ID in each.
    for chunk in 0..5u64 {
        let mut items: Vec<(AddId, &[(Bytes, Bytes)])> = Vec::new();
        for k in 0..8u64 {
            let n = chunk * 8 + k;
            items.push((AddId::Explicit(id(n + 1)), &all[n as usize]));
            if k == 3 {
                items.push((AddId::Explicit(id(1)), &all[0]));
            }
        }
        let (ids, commit) = many.add_many(&items, 0, limits).unwrap();
        commit.unwrap().wait().unwrap();
        assert_eq!(ids.iter().filter(|r| r.is_err()).count(), 1);
        assert!(ids[4].is_err(), "the stale ID is refused in its place");
    }
    let a = one.range(StreamId::MIN, StreamId::MAX, None).unwrap();
    let b = many.range(StreamId::MIN, StreamId::MAX, None).unwrap();
    assert_eq!(a, b);
    assert_eq!(one.info(), many.info());
    assert_eq!(one.node_count().unwrap(), many.node_count().unwrap());

    // The disk fills: the whole batch fails and nothing changed.
    let before = (many.len(), many.last_id(), many.info());
    sim.set_capacity(Some(sim.used() + 1000));
    let big: Vec<Vec<(Bytes, Bytes)>> = (41..=80).map(fields).collect();
    let items: Vec<(AddId, &[(Bytes, Bytes)])> = big
        .iter()
        .enumerate()
        .map(|(i, f)| (AddId::Explicit(id(41 + i as u64)), &f[..]))
        .collect();
    assert!(many.add_many(&items, 0, limits).is_err());
    assert_eq!((many.len(), many.last_id(), many.info()), before);
    // Space returns: the batch goes in, and equals the one-by-one stream.
    sim.set_capacity(None);
    let (ids, commit) = many.add_many(&items, 0, limits).unwrap();
    commit.unwrap().wait().unwrap();
    assert!(ids.iter().all(|r| r.is_ok()));
    for (i, f) in big.iter().enumerate() {
        let (_, c) = one
            .add(AddId::Explicit(id(41 + i as u64)), f, None, None, 0, limits)
            .unwrap();
        brook::engine::stream::wait_all(c).unwrap();
    }
    let a = one.range(StreamId::MIN, StreamId::MAX, None).unwrap();
    let b = many.range(StreamId::MIN, StreamId::MAX, None).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.len(), 80);
    // And after a crash and reopen.
    drop((one, many));
    drop(e);
    let after = sim.process_crash();
    let e = Engine::open_with(after, &dir, cfg()).unwrap();
    let one = e.stream(0, b"one").unwrap().unwrap();
    let many = e.stream(0, b"many").unwrap().unwrap();
    assert_eq!(
        one.range(StreamId::MIN, StreamId::MAX, None).unwrap(),
        many.range(StreamId::MIN, StreamId::MAX, None).unwrap()
    );
    assert_eq!(one.info(), many.info());
}
