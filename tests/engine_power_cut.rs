//! Power cuts on the simulated disk while producers XADD and a consumer
//! group reads, acks and claims. A stream is two logs (entries and the
//! group journal) synced separately; after the cut:
//! - group state is never ahead of the entries: no pending ID, last
//!   delivered ID or entries-read beyond what survived;
//! - under `always`, nothing acknowledged is lost: every XADD is there,
//!   every acked ID is not pending, every delivered and unacked ID is
//!   pending with its consumer;
//! - under every policy, the stream opens, reads and accepts writes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use brook::engine::groups::{ClaimOptions, GroupRead, GroupStart};
use brook::engine::id::{AddId, StreamId};
use brook::engine::keyspace::{Engine, EngineConfig};
use brook::engine::stream::wait_all;
use brook::storage::sim::SimIo;
use brook::{FsyncPolicy, LogConfig, StoreConfig};

fn cfg(policy: FsyncPolicy) -> EngineConfig {
    EngineConfig {
        store: StoreConfig {
            log: LogConfig {
                fsync: policy,
                segment_bytes: 4096,
                ..LogConfig::default()
            },
            ..StoreConfig::default()
        },
        ..EngineConfig::default()
    }
}

#[derive(Default)]
struct Acked {
    added: BTreeSet<StreamId>,
    /// Delivered (or claimed) and not acked: ID -> consumer.
    pending: BTreeMap<StreamId, Bytes>,
    acked: BTreeSet<StreamId>,
    /// An ack (`None`) or claim (`Some(consumer)`) under way: at the cut
    /// its IDs may show either their state before or after it.
    in_flight: Option<(Vec<StreamId>, Option<Bytes>)>,
    ops: u64,
}

fn cut_once(policy: FsyncPolicy, cut_after: u64, round: u64) {
    let sim = SimIo::new();
    let dir = PathBuf::from("/disk/data");
    let e = Arc::new(Engine::open_with(sim.clone(), &dir, cfg(policy)).unwrap());
    let g = Bytes::from_static(b"g");
    let s = e.stream_or_create(0, b"s").unwrap();
    wait_all(
        s.create_group(&g, GroupStart::Id(StreamId::MIN), None)
            .unwrap(),
    )
    .unwrap();
    // Durable whatever the policy, so that every cut has the group.
    s.sync().unwrap();
    let acked = Arc::new(Mutex::new(Acked::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (e, acked, stop) = (e.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let s = e.stream(0, b"s").unwrap().unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let f = [(Bytes::from_static(b"n"), Bytes::from(i.to_string()))];
                let (id, c) = s
                    .add(AddId::Auto, &f, None, None, i, e.node_limits())
                    .unwrap();
                wait_all(c).unwrap();
                let mut a = acked.lock().unwrap();
                a.added.insert(id);
                a.ops += 1;
            }
        })
    };
    let consumer = {
        let (e, acked, stop, g) = (e.clone(), acked.clone(), stop.clone(), g.clone());
        std::thread::spawn(move || {
            let s = e.stream(0, b"s").unwrap().unwrap();
            let names = [Bytes::from_static(b"c1"), Bytes::from_static(b"c2")];
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let me = &names[(n % 2) as usize];
                let (got, c) = s
                    .read_group(b"s", &g, me, GroupRead::New, Some(3), false, n)
                    .unwrap();
                wait_all(c).unwrap();
                let ids: Vec<StreamId> = got.iter().map(|x| x.0).collect();
                {
                    let mut a = acked.lock().unwrap();
                    for id in &ids {
                        a.pending.insert(*id, me.clone());
                    }
                    a.ops += 1;
                }
                // Ack every other batch; claim the first of the rest.
                if n % 2 == 0 && !ids.is_empty() {
                    acked.lock().unwrap().in_flight = Some((ids.clone(), None));
                    let (k, c) = s.ack(&g, &ids).unwrap();
                    wait_all(c).unwrap();
                    assert_eq!(k as usize, ids.len());
                    let mut a = acked.lock().unwrap();
                    for id in &ids {
                        a.pending.remove(id);
                        a.acked.insert(*id);
                    }
                    a.in_flight = None;
                } else if let Some(first) = ids.first() {
                    let other = &names[((n + 1) % 2) as usize];
                    acked.lock().unwrap().in_flight = Some((vec![*first], Some(other.clone())));
                    let (got, c) = s
                        .claim(b"s", &g, other, 0, &[*first], &ClaimOptions::default(), n)
                        .unwrap();
                    wait_all(c).unwrap();
                    let mut a = acked.lock().unwrap();
                    if !got.is_empty() {
                        a.pending.insert(*first, other.clone());
                    }
                    a.in_flight = None;
                }
            }
        })
    };
    while acked.lock().unwrap().ops < cut_after {
        std::thread::yield_now();
    }
    // What was acknowledged before the cut began.
    let (added, pending, acked_ids, in_flight) = {
        let a = acked.lock().unwrap();
        (
            a.added.clone(),
            a.pending.clone(),
            a.acked.clone(),
            a.in_flight.clone(),
        )
    };
    let after = sim.power_cut();
    stop.store(true, Ordering::Relaxed);
    producer.join().unwrap();
    consumer.join().unwrap();

    let e2 = Engine::open_with(after, &dir, cfg(policy)).unwrap();
    let s2 = e2.stream(0, b"s").unwrap().unwrap();
    let info = s2.info();
    let top = info.last_generated_id;
    let st = s2
        .group_state(&g)
        .expect("group survives (created before the cut)");
    let ctx = format!("{policy:?} round {round}");
    assert!(st.last_id <= top, "{ctx}: group cursor ahead of entries");
    if let Some(pel_max) = st.pel.keys().next_back() {
        assert!(*pel_max <= top, "{ctx}: PEL ahead of entries");
    }
    if let Some(read) = st.entries_read {
        assert!(read <= info.entries_added, "{ctx}: entries-read ahead");
    }
    for (c, cs) in &st.consumers {
        for id in &cs.pending {
            assert_eq!(st.pel.get(id).map(|p| &p.consumer), Some(c), "{ctx}");
        }
    }
    let ids: BTreeSet<StreamId> = s2
        .range(StreamId::MIN, StreamId::MAX, None)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids.len() as u64, info.length, "{ctx}");
    if policy == FsyncPolicy::Always {
        assert!(added.is_subset(&ids), "{ctx}: acknowledged XADD lost");
        for id in &acked_ids {
            assert!(
                !st.pel.contains_key(id),
                "{ctx}: acked {id:?} pending again"
            );
        }
        for (id, c) in &pending {
            let on_disk = st.pel.get(id).map(|p| &p.consumer);
            let raced = in_flight
                .as_ref()
                .is_some_and(|(ids, to)| ids.contains(id) && on_disk == to.as_ref());
            assert!(
                on_disk == Some(c) || raced,
                "{ctx}: delivered {id:?} to {c:?}, pending with {on_disk:?}"
            );
        }
    }
    // And the stream takes writes and group reads after the cut.
    let f = [(Bytes::from_static(b"n"), Bytes::from_static(b"after"))];
    let (id, c) = s2
        .add(AddId::Auto, &f, None, None, u64::MAX / 2, e2.node_limits())
        .unwrap();
    wait_all(c).unwrap();
    assert!(id > top);
    let (got, c) = s2
        .read_group(
            b"s",
            &g,
            &Bytes::from_static(b"c9"),
            GroupRead::New,
            None,
            false,
            1,
        )
        .unwrap();
    wait_all(c).unwrap();
    assert_eq!(got.last().map(|x| x.0), Some(id), "{ctx}");
}

#[test]
fn group_state_never_ahead_and_nothing_acked_lost() {
    let rounds: u64 = std::env::var("BROOK_CUT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    for round in 0..rounds {
        let cut_after = [3, 40, 200, 900, 6000][round as usize % 5];
        for policy in [FsyncPolicy::Always, FsyncPolicy::EverySec, FsyncPolicy::No] {
            cut_once(policy, cut_after, round);
        }
    }
}
