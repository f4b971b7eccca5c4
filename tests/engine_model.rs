//! Model-based test of the engine: random sequences of stream and group
//! operations, with the engine reopened at random points, must give the
//! same replies as a plain in-memory model built on `BTreeMap`.
//!
//! Cases: `PROPTEST_CASES` (default 64).

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use proptest::prelude::*;

use brook::engine::groups::{ClaimOptions, GroupRead, GroupStart};
use brook::engine::id::{AddId, StreamId};
use brook::engine::keyspace::{Engine, EngineConfig};
use brook::engine::stream::{Trim, TrimStrategy, wait_all};
use brook::{LogConfig, StoreConfig};

#[derive(Debug, Clone)]
enum Op {
    Add {
        auto: bool,
        dms: u64,
        seq: u64,
        nf: u8,
        v: u8,
    },
    Del(Vec<(u64, u64)>),
    DelNth(usize),
    TrimLen(u64),
    TrimMin(u64),
    Range(u64, u64, Option<usize>),
    RevRange(u64, u64, Option<usize>),
    Create(u8, bool),
    ReadNew(u8, u8, Option<usize>, bool),
    ReadPending(u8, u8, u64),
    Ack(u8, Vec<(u64, u64)>),
    Summary(u8),
    Claim(u8, u8, Vec<(u64, u64)>),
    AutoClaim(u8, u8, u64, u64),
    Tick,
    Retain(u64),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let id = (0u64..40, 0u64..3);
    prop_oneof![
        6 => (any::<bool>(), 0u64..3, 0u64..3, 1u8..4, any::<u8>())
            .prop_map(|(auto, dms, seq, nf, v)| Op::Add { auto, dms, seq, nf, v }),
        2 => prop::collection::vec(id.clone(), 1..4).prop_map(Op::Del),
        3 => (0usize..20).prop_map(Op::DelNth),
        1 => (0u64..12).prop_map(Op::TrimLen),
        1 => (0u64..40).prop_map(Op::TrimMin),
        2 => (0u64..40, 0u64..40, prop::option::of(0usize..6)).prop_map(|(a, b, c)| Op::Range(a, b, c)),
        1 => (0u64..40, 0u64..40, prop::option::of(0usize..6)).prop_map(|(a, b, c)| Op::RevRange(a, b, c)),
        1 => (0u8..2, any::<bool>()).prop_map(|(g, last)| Op::Create(g, last)),
        3 => (0u8..2, 0u8..3, prop::option::of(1usize..5), any::<bool>())
            .prop_map(|(g, c, n, noack)| Op::ReadNew(g, c, n, noack)),
        1 => (0u8..2, 0u8..3, 0u64..40).prop_map(|(g, c, a)| Op::ReadPending(g, c, a)),
        2 => (0u8..2, prop::collection::vec(id.clone(), 1..4)).prop_map(|(g, ids)| Op::Ack(g, ids)),
        1 => (0u8..2).prop_map(Op::Summary),
        1 => (0u8..2, 0u8..3, prop::collection::vec(id, 1..4)).prop_map(|(g, c, ids)| Op::Claim(g, c, ids)),
        1 => (0u8..2, 0u8..3, 0u64..40, 1u64..4).prop_map(|(g, c, s, n)| Op::AutoClaim(g, c, s, n)),
        1 => Just(Op::Tick),
        1 => (0u64..16384).prop_map(Op::Retain),
        1 => Just(Op::Reopen),
    ]
}

type Fields = Vec<(Bytes, Bytes)>;

#[derive(Default, Clone)]
struct MGroup {
    last: StreamId,
    pel: BTreeMap<StreamId, (Bytes, u64, u64)>,
}

#[derive(Default)]
struct Model {
    entries: BTreeMap<StreamId, Fields>,
    last: StreamId,
    added: u64,
    max_deleted: StreamId,
    groups: BTreeMap<Bytes, MGroup>,
}

fn sid((ms, seq): (u64, u64)) -> StreamId {
    StreamId::new(ms, seq)
}

fn name(prefix: &str, i: u8) -> Bytes {
    Bytes::from(format!("{prefix}{i}"))
}

fn fields(nf: u8, v: u8) -> Fields {
    (0..nf)
        .map(|i| {
            (
                Bytes::from(format!("f{i}")),
                // Long enough that 4 KiB segments roll every ~20 entries.
                Bytes::from(format!("{v}-{i}-{:0>120}", v)),
            )
        })
        .collect()
}

type Entries = Vec<(StreamId, Option<Fields>)>;

fn small_engine(dir: &std::path::Path) -> Engine {
    let cfg = EngineConfig {
        store: StoreConfig {
            log: LogConfig {
                segment_bytes: 4096,
                ..LogConfig::default()
            },
            ..StoreConfig::default()
        },
        ..EngineConfig::default()
    };
    Engine::open(dir, cfg).unwrap()
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut e = small_engine(dir.path());
    let mut m = Model::default();
    let mut now = 1u64;
    let key = b"s";
    for op in ops {
        let s = e.stream_or_create(0, key).unwrap();
        match op {
            Op::Add {
                auto,
                dms,
                seq,
                nf,
                v,
            } => {
                let f = fields(nf, v);
                let (arg, want) = if auto {
                    let id = if now > m.last.ms {
                        StreamId::new(now, 0)
                    } else {
                        StreamId::new(m.last.ms, m.last.seq + 1)
                    };
                    (AddId::Auto, Ok(id))
                } else {
                    let id = StreamId::new(m.last.ms + dms, seq);
                    let want = if id == StreamId::MIN {
                        Err("zero")
                    } else if id <= m.last {
                        Err("small")
                    } else {
                        Ok(id)
                    };
                    (AddId::Explicit(id), want)
                };
                let got = s.add(arg, &f, None, None, now, e.node_limits());
                match (got, want) {
                    (Ok((id, c)), Ok(w)) => {
                        wait_all(c).unwrap();
                        prop_assert_eq!(id, w);
                        m.entries.insert(id, f);
                        m.last = id;
                        m.added += 1;
                    }
                    (Err(_), Err(_)) => {}
                    (g, w) => prop_assert!(false, "add: got {:?}, want {:?}", g.map(|x| x.0), w),
                }
            }
            Op::Del(_) | Op::DelNth(_) => {
                let ids: Vec<StreamId> = match op {
                    Op::Del(ids) => ids.into_iter().map(sid).collect(),
                    Op::DelNth(n) => m.entries.keys().nth(n).into_iter().copied().collect(),
                    _ => unreachable!(),
                };
                let mut n = 0;
                for id in &ids {
                    if m.entries.remove(id).is_some() {
                        n += 1;
                        m.max_deleted = m.max_deleted.max(*id);
                    }
                }
                let (got, c) = s.delete(&ids).unwrap();
                wait_all(c).unwrap();
                prop_assert_eq!(got, n);
            }
            Op::TrimLen(n) => {
                let mut removed = 0;
                while m.entries.len() as u64 > n {
                    m.entries.pop_first();
                    removed += 1;
                }
                let t = Trim {
                    strategy: TrimStrategy::MaxLen(n),
                    approx: false,
                    limit: None,
                };
                let (got, c) = s.trim(t, e.node_limits()).unwrap();
                wait_all(c).unwrap();
                prop_assert_eq!(got, removed);
            }
            Op::TrimMin(ms) => {
                let min = StreamId::new(ms, 0);
                let before = m.entries.len();
                m.entries = m.entries.split_off(&min);
                let removed = (before - m.entries.len()) as u64;
                let t = Trim {
                    strategy: TrimStrategy::MinId(min),
                    approx: false,
                    limit: None,
                };
                let (got, c) = s.trim(t, e.node_limits()).unwrap();
                wait_all(c).unwrap();
                prop_assert_eq!(got, removed);
            }
            Op::Range(a, b, count) => {
                let (lo, hi) = (StreamId::new(a, 0), StreamId::new(b, u64::MAX));
                let want: Vec<_> = if lo <= hi {
                    m.entries
                        .range(lo..=hi)
                        .take(count.unwrap_or(usize::MAX))
                        .map(|(k, v)| (*k, v.clone()))
                        .collect()
                } else {
                    Vec::new()
                };
                let got: Vec<_> = s
                    .range(lo, hi, count)
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.id, e.fields))
                    .collect();
                prop_assert_eq!(got, want);
            }
            Op::RevRange(a, b, count) => {
                let (lo, hi) = (StreamId::new(a, 0), StreamId::new(b, u64::MAX));
                let want: Vec<_> = if lo <= hi {
                    m.entries
                        .range(lo..=hi)
                        .rev()
                        .take(count.unwrap_or(usize::MAX))
                        .map(|(k, v)| (*k, v.clone()))
                        .collect()
                } else {
                    Vec::new()
                };
                let got: Vec<_> = s
                    .rev_range(hi, lo, count)
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.id, e.fields))
                    .collect();
                prop_assert_eq!(got, want);
            }
            Op::Create(g, last) => {
                let g = name("g", g);
                let start = if last {
                    GroupStart::Last
                } else {
                    GroupStart::Id(StreamId::MIN)
                };
                let want_ok = !m.groups.contains_key(&g);
                let got = s.create_group(&g, start, None);
                prop_assert_eq!(got.is_ok(), want_ok);
                if let Ok(c) = got {
                    wait_all(c).unwrap();
                    let l = if last { m.last } else { StreamId::MIN };
                    m.groups.insert(
                        g,
                        MGroup {
                            last: l,
                            ..MGroup::default()
                        },
                    );
                }
            }
            Op::ReadNew(g, c, count, noack) => {
                let g = name("g", g);
                let c = name("c", c);
                let got = s.read_group(key, &g, &c, GroupRead::New, count, noack, now);
                let Some(mg) = m.groups.get_mut(&g) else {
                    prop_assert!(got.is_err());
                    continue;
                };
                let want: Entries = m
                    .entries
                    .range(mg.last.next().unwrap_or(StreamId::MAX)..)
                    .take(count.unwrap_or(usize::MAX))
                    .map(|(k, v)| (*k, Some(v.clone())))
                    .collect();
                for (id, _) in &want {
                    mg.last = *id;
                    if !noack {
                        mg.pel.insert(*id, (c.clone(), now, 1));
                    }
                }
                let (got, cm) = got.unwrap();
                wait_all(cm).unwrap();
                prop_assert_eq!(got, want);
            }
            Op::ReadPending(g, c, after) => {
                let g = name("g", g);
                let c = name("c", c);
                let after = StreamId::new(after, 0);
                let got = s.read_group(key, &g, &c, GroupRead::Pending(after), None, false, now);
                let Some(mg) = m.groups.get_mut(&g) else {
                    prop_assert!(got.is_err());
                    continue;
                };
                let mut want: Entries = Vec::new();
                for (id, p) in mg.pel.range_mut(after.next().unwrap_or(StreamId::MAX)..) {
                    if p.0 != c {
                        continue;
                    }
                    match m.entries.get(id) {
                        Some(f) => {
                            p.1 = now;
                            p.2 += 1;
                            want.push((*id, Some(f.clone())));
                        }
                        None => want.push((*id, None)),
                    }
                }
                let (got, cm) = got.unwrap();
                wait_all(cm).unwrap();
                prop_assert_eq!(got, want);
            }
            Op::Ack(g, ids) => {
                let g = name("g", g);
                let ids: Vec<StreamId> = ids.into_iter().map(sid).collect();
                let want = match m.groups.get_mut(&g) {
                    Some(mg) => ids
                        .iter()
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .filter(|id| mg.pel.remove(id).is_some())
                        .count() as u64,
                    None => 0,
                };
                let (got, c) = s.ack(&g, &ids).unwrap();
                wait_all(c).unwrap();
                prop_assert_eq!(got, want);
            }
            Op::Summary(g) => {
                let g = name("g", g);
                let got = s.pending_summary(key, &g);
                let Some(mg) = m.groups.get(&g) else {
                    prop_assert!(got.is_err());
                    continue;
                };
                let got = got.unwrap();
                prop_assert_eq!(got.count, mg.pel.len() as u64);
                let bounds = mg
                    .pel
                    .keys()
                    .next()
                    .map(|a| (*a, *mg.pel.keys().next_back().unwrap()));
                prop_assert_eq!(got.bounds, bounds);
                let mut per: BTreeMap<Bytes, u64> = BTreeMap::new();
                for (c, _, _) in mg.pel.values() {
                    *per.entry(c.clone()).or_default() += 1;
                }
                prop_assert_eq!(got.consumers, per.into_iter().collect::<Vec<_>>());
            }
            Op::Claim(g, c, ids) => {
                let g = name("g", g);
                let c = name("c", c);
                let ids: Vec<StreamId> = ids.into_iter().map(sid).collect();
                let got = s.claim(key, &g, &c, 0, &ids, &ClaimOptions::default(), now);
                let Some(mg) = m.groups.get_mut(&g) else {
                    prop_assert!(got.is_err());
                    continue;
                };
                let mut want: Entries = Vec::new();
                let mut seen = BTreeSet::new();
                for id in &ids {
                    if !seen.insert(*id) {
                        continue;
                    }
                    match m.entries.get(id) {
                        None => {
                            mg.pel.remove(id);
                        }
                        Some(f) => {
                            if let Some(p) = mg.pel.get_mut(id) {
                                *p = (c.clone(), now, p.2 + 1);
                                want.push((*id, Some(f.clone())));
                            }
                        }
                    }
                }
                let (got, cm) = got.unwrap();
                wait_all(cm).unwrap();
                prop_assert_eq!(got, want);
            }
            Op::AutoClaim(g, c, start, count) => {
                let g = name("g", g);
                let c = name("c", c);
                let start = StreamId::new(start, 0);
                let got = s.auto_claim(key, &g, &c, 0, start, count, false, now);
                let Some(mg) = m.groups.get_mut(&g) else {
                    prop_assert!(got.is_err());
                    continue;
                };
                let mut claimed: Entries = Vec::new();
                let mut deleted = Vec::new();
                let ids: Vec<StreamId> = mg.pel.range(start..).map(|(k, _)| *k).collect();
                let mut visited = 0;
                for id in &ids {
                    if visited == count as usize {
                        break;
                    }
                    visited += 1;
                    match m.entries.get(id) {
                        None => {
                            mg.pel.remove(id);
                            deleted.push(*id);
                        }
                        Some(f) => {
                            let p = mg.pel.get_mut(id).unwrap();
                            *p = (c.clone(), now, p.2 + 1);
                            claimed.push((*id, Some(f.clone())));
                        }
                    }
                }
                let next = ids.get(visited).copied().unwrap_or(StreamId::MIN);
                let (got, cm) = got.unwrap();
                wait_all(cm).unwrap();
                prop_assert_eq!(
                    (got.next, got.claimed, got.deleted),
                    (next, claimed, deleted)
                );
            }
            Op::Tick => now += 1,
            Op::Retain(max_bytes) => {
                // Whole segments go: the engine picks the new first entry;
                // everything below it, and nothing else, must be gone.
                let (got, c) = s
                    .apply_retention(None, Some(max_bytes), now, e.node_limits())
                    .unwrap();
                wait_all(c).unwrap();
                let info = s.info();
                let before = m.entries.len();
                if info.length == 0 {
                    m.entries.clear();
                } else {
                    m.entries = m.entries.split_off(&info.recorded_first_entry_id);
                }
                prop_assert_eq!(got, (before - m.entries.len()) as u64);
            }
            Op::Reopen => {
                drop(s);
                drop(e);
                e = small_engine(dir.path());
            }
        }
        // After every op, the stream's numbers agree.
        let s = e.stream_or_create(0, key).unwrap();
        let info = s.info();
        prop_assert_eq!(info.length, m.entries.len() as u64);
        prop_assert_eq!(info.last_generated_id, m.last);
        prop_assert_eq!(info.entries_added, m.added);
        prop_assert_eq!(info.max_deleted_entry_id, m.max_deleted);
        prop_assert_eq!(
            info.recorded_first_entry_id,
            m.entries.keys().next().copied().unwrap_or_default()
        );
        prop_assert_eq!(info.groups, m.groups.len() as u64);
        for (g, mg) in &m.groups {
            let st = s.group_state(g).unwrap();
            prop_assert_eq!(st.last_id, mg.last);
            let pel: BTreeMap<StreamId, (Bytes, u64, u64)> = st
                .pel
                .iter()
                .map(|(k, p)| (*k, (p.consumer.clone(), p.delivered_ms, p.deliveries)))
                .collect();
            prop_assert_eq!(&pel, &mg.pel);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_model(ops in prop::collection::vec(op(), 1..120)) {
        run(ops)?;
    }
}
