//! The reference model of the engine, shared by the property test
//! (`tests/engine_model.rs`) and the `engine_model` fuzz target: a sequence
//! of stream, group and list operations, with reopenings and journal
//! compactions, is run against the engine and against plain in-memory
//! structures (`BTreeMap`, `VecDeque`), and every reply and every state
//! after each operation must agree. [`run`] returns the first disagreement.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;

use brook::engine::groups::{ClaimOptions, GroupRead, GroupStart};
use brook::engine::id::{AddId, StreamId};
use brook::engine::keyspace::Engine;
use brook::engine::memory::Op as MemOp;
use brook::engine::stream::{Trim, TrimStrategy, wait_all};

/// Fails `run` with the message when the condition does not hold.
macro_rules! check {
    ($c:expr) => {
        if !$c {
            return Err(format!("check failed: {}", stringify!($c)));
        }
    };
    ($c:expr, $($fmt:tt)+) => {
        if !$c {
            return Err(format!($($fmt)+));
        }
    };
}

/// Fails `run` when the two differ, showing both.
macro_rules! check_eq {
    ($a:expr, $b:expr) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            return Err(format!(
                "{} != {}: {:?} != {:?}",
                stringify!($a),
                stringify!($b),
                a,
                b
            ));
        }
    }};
}

fn list_key(i: u8) -> Bytes {
    Bytes::from(if i % 2 == 0 { "l" } else { "l2" })
}

#[derive(Debug, Clone)]
pub enum Op {
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
    /// LPUSH or RPUSH of `n` items to list `l` or `l2`.
    Push {
        list: u8,
        tail: bool,
        n: u8,
        v: u8,
    },
    /// LPOP or RPOP with a count.
    Pop {
        list: u8,
        tail: bool,
        count: u8,
    },
    /// LMOVE from one list to the other (or to itself).
    LMove {
        from: u8,
        to: u8,
        from_tail: bool,
        to_tail: bool,
    },
    /// Compacts the journal of lists and strings, and waits for it.
    Compact,
}

pub type Fields = Vec<(Bytes, Bytes)>;

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

pub fn run(ops: Vec<Op>, open: &dyn Fn() -> Engine) -> Result<(), String> {
    let mut e = open();
    let mut lists: [VecDeque<Bytes>; 2] = Default::default();
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
                        check_eq!(id, w);
                        m.entries.insert(id, f);
                        m.last = id;
                        m.added += 1;
                    }
                    (Err(_), Err(_)) => {}
                    (g, w) => check!(false, "add: got {:?}, want {:?}", g.map(|x| x.0), w),
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
                check_eq!(got, n);
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
                check_eq!(got, removed);
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
                check_eq!(got, removed);
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
                check_eq!(got, want);
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
                check_eq!(got, want);
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
                check_eq!(got.is_ok(), want_ok);
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
                    check!(got.is_err());
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
                check_eq!(got, want);
            }
            Op::ReadPending(g, c, after) => {
                let g = name("g", g);
                let c = name("c", c);
                let after = StreamId::new(after, 0);
                let got = s.read_group(key, &g, &c, GroupRead::Pending(after), None, false, now);
                let Some(mg) = m.groups.get_mut(&g) else {
                    check!(got.is_err());
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
                check_eq!(got, want);
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
                check_eq!(got, want);
            }
            Op::Summary(g) => {
                let g = name("g", g);
                let got = s.pending_summary(key, &g);
                let Some(mg) = m.groups.get(&g) else {
                    check!(got.is_err());
                    continue;
                };
                let got = got.unwrap();
                check_eq!(got.count, mg.pel.len() as u64);
                let bounds = mg
                    .pel
                    .keys()
                    .next()
                    .map(|a| (*a, *mg.pel.keys().next_back().unwrap()));
                check_eq!(got.bounds, bounds);
                let mut per: BTreeMap<Bytes, u64> = BTreeMap::new();
                for (c, _, _) in mg.pel.values() {
                    *per.entry(c.clone()).or_default() += 1;
                }
                check_eq!(got.consumers, per.into_iter().collect::<Vec<_>>());
            }
            Op::Claim(g, c, ids) => {
                let g = name("g", g);
                let c = name("c", c);
                let ids: Vec<StreamId> = ids.into_iter().map(sid).collect();
                let got = s.claim(key, &g, &c, 0, &ids, &ClaimOptions::default(), now);
                let Some(mg) = m.groups.get_mut(&g) else {
                    check!(got.is_err());
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
                check_eq!(got, want);
            }
            Op::AutoClaim(g, c, start, count) => {
                let g = name("g", g);
                let c = name("c", c);
                let start = StreamId::new(start, 0);
                let got = s.auto_claim(key, &g, &c, 0, start, count, false, now);
                let Some(mg) = m.groups.get_mut(&g) else {
                    check!(got.is_err());
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
                check_eq!(
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
                check_eq!(got, (before - m.entries.len()) as u64);
            }
            Op::Push { list, tail, n, v } => {
                let items: Vec<Bytes> = (0..n).map(|i| Bytes::from(format!("{v}.{i}"))).collect();
                let l = &mut lists[usize::from(list % 2)];
                for it in &items {
                    if tail {
                        l.push_back(it.clone());
                    } else {
                        l.push_front(it.clone());
                    }
                }
                let want = l.len() as u64;
                let key = list_key(list);
                let op = MemOp::Push {
                    db: 0,
                    key,
                    tail,
                    items,
                };
                let (outs, c) = e
                    .mem(0, |tx| tx.apply(vec![op]))
                    .map_err(|x| x.to_string())?;
                wait_all(c.into_iter().collect()).map_err(|x| x.to_string())?;
                check_eq!(outs.first().map(|o| o.n), Some(want));
            }
            Op::Pop { list, tail, count } => {
                let l = &mut lists[usize::from(list % 2)];
                let mut want = Vec::new();
                for _ in 0..count {
                    match if tail { l.pop_back() } else { l.pop_front() } {
                        Some(x) => want.push(x),
                        None => break,
                    }
                }
                let key = list_key(list);
                let op = MemOp::Pop {
                    db: 0,
                    key: key.clone(),
                    tail,
                    count: u64::from(count),
                };
                let (outs, c) = e
                    .mem(0, |tx| {
                        // A pop of a missing list is not journaled, as in the server.
                        if tx.list(&key, |l| l.is_none())? {
                            return Ok(Vec::new());
                        }
                        tx.apply(vec![op])
                    })
                    .map_err(|x| x.to_string())?;
                wait_all(c.into_iter().collect()).map_err(|x| x.to_string())?;
                let got: Vec<Bytes> = outs.into_iter().flat_map(|o| o.items).collect();
                check_eq!(got, want);
            }
            Op::LMove {
                from,
                to,
                from_tail,
                to_tail,
            } => {
                let (fi, ti) = (usize::from(from % 2), usize::from(to % 2));
                let moved = if from_tail {
                    lists[fi].pop_back()
                } else {
                    lists[fi].pop_front()
                };
                if let Some(x) = &moved {
                    if to_tail {
                        lists[ti].push_back(x.clone());
                    } else {
                        lists[ti].push_front(x.clone());
                    }
                }
                let (src, dst) = (list_key(from), list_key(to));
                let op = MemOp::LMove {
                    db: 0,
                    src: src.clone(),
                    dst,
                    from_tail,
                    to_tail,
                };
                let (outs, c) = e
                    .mem(0, |tx| {
                        if tx.list(&src, |l| l.is_none())? {
                            return Ok(Vec::new());
                        }
                        tx.apply(vec![op])
                    })
                    .map_err(|x| x.to_string())?;
                wait_all(c.into_iter().collect()).map_err(|x| x.to_string())?;
                let got: Vec<Bytes> = outs.into_iter().flat_map(|o| o.items).collect();
                check_eq!(got, moved.into_iter().collect::<Vec<_>>());
            }
            Op::Compact => {
                e.compact_memory(true).map_err(|x| x.to_string())?;
            }
            Op::Reopen => {
                drop(s);
                drop(e);
                e = open();
            }
        }
        // After every op, both lists are the model's…
        for (i, want) in lists.iter().enumerate() {
            let key = list_key(i as u8);
            let (got, _) = e
                .mem(0, |tx| {
                    tx.list(&key, |l| l.map(|l| l.iter().cloned().collect::<Vec<_>>()))
                })
                .map_err(|x| x.to_string())?;
            check_eq!(
                got.unwrap_or_default(),
                want.iter().cloned().collect::<Vec<_>>()
            );
        }
        // …and the stream's numbers agree.
        let s = e.stream_or_create(0, key).unwrap();
        let info = s.info();
        check_eq!(info.length, m.entries.len() as u64);
        check_eq!(info.last_generated_id, m.last);
        check_eq!(info.entries_added, m.added);
        check_eq!(info.max_deleted_entry_id, m.max_deleted);
        check_eq!(
            info.recorded_first_entry_id,
            m.entries.keys().next().copied().unwrap_or_default()
        );
        check_eq!(info.groups, m.groups.len() as u64);
        for (g, mg) in &m.groups {
            let st = s.group_state(g).unwrap();
            check_eq!(st.last_id, mg.last);
            let pel: BTreeMap<StreamId, (Bytes, u64, u64)> = st
                .pel
                .iter()
                .map(|(k, p)| (*k, (p.consumer.clone(), p.delivered_ms, p.deliveries)))
                .collect();
            check_eq!(&pel, &mg.pel);
        }
    }
    Ok(())
}
