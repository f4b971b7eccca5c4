//! `~` trimming removes the same whole nodes as Redis: replays the
//! scenarios recorded from redis-server 7.0.15 by
//! `tests/fixtures/trim_redis.py` (node limits, entry sizes, XDEL, XTRIM
//! MAXLEN|MINID ~ with and without LIMIT) and compares every reply, with
//! a reopen of the engine between scenarios' steps now and then.

use bytes::Bytes;

use brook::engine::id::{AddId, StreamId};
use brook::engine::keyspace::{Engine, EngineConfig};
use brook::engine::stream::{NodeLimits, Trim, TrimStrategy, wait_all};

fn value(s: &str) -> Bytes {
    match s.strip_prefix("v*") {
        Some(n) => Bytes::from(vec![b'v'; n.parse().unwrap()]),
        None => Bytes::from(s.to_string()),
    }
}

#[test]
fn approximate_trims_match_redis() {
    let text = include_str!("fixtures/trim_redis.tsv");
    let dir = tempfile::tempdir().unwrap();
    let mut e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let mut scenario = 0;
    let mut steps = 0u64;
    let mut checked = 0;
    for (lineno, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let ctx = || format!("line {} (scenario {scenario}): {line:.80}", lineno + 1);
        steps += 1;
        if steps % 97 == 0 {
            let limits = e.node_limits();
            drop(e);
            e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
            e.set_node_limits(limits);
        }
        match f[0] {
            "new" => {
                scenario += 1;
                e.delete(0, b"s").unwrap();
                e.set_node_limits(NodeLimits {
                    max_entries: f[1].parse().unwrap(),
                    max_bytes: f[2].parse().unwrap(),
                });
            }
            "add" => {
                let s = e.stream_or_create(0, b"s").unwrap();
                let id = StreamId::parse(f[1].as_bytes(), 0).unwrap();
                let fields: Vec<(Bytes, Bytes)> = f[2..]
                    .chunks(2)
                    .map(|p| (Bytes::from(p[0].to_string()), value(p[1])))
                    .collect();
                let (got, c) = s
                    .add(AddId::Explicit(id), &fields, None, None, 0, e.node_limits())
                    .unwrap();
                wait_all(c).unwrap();
                assert_eq!(got, id, "{}", ctx());
            }
            "del" => {
                let s = e.stream_or_create(0, b"s").unwrap();
                let id = StreamId::parse(f[1].as_bytes(), 0).unwrap();
                let (n, c) = s.delete(&[id]).unwrap();
                wait_all(c).unwrap();
                assert_eq!(n.to_string(), f[2], "{}", ctx());
            }
            "trim" => {
                let s = e.stream_or_create(0, b"s").unwrap();
                let strategy = match f[1] {
                    "MAXLEN" => TrimStrategy::MaxLen(f[2].parse().unwrap()),
                    _ => TrimStrategy::MinId(StreamId::parse(f[2].as_bytes(), 0).unwrap()),
                };
                let limit = (f[3] != "-").then(|| f[3].parse().unwrap());
                let t = Trim {
                    strategy,
                    approx: true,
                    limit,
                };
                let (n, c) = s.trim(t, e.node_limits()).unwrap();
                wait_all(c).unwrap();
                assert_eq!(
                    (n.to_string(), s.len().to_string()),
                    (f[4].to_string(), f[5].to_string()),
                    "{}",
                    ctx()
                );
                checked += 1;
            }
            "end" => {
                let s = e.stream_or_create(0, b"s").unwrap();
                assert_eq!(s.len().to_string(), f[1], "{}", ctx());
            }
            other => panic!("unknown fixture op {other}"),
        }
    }
    assert!(checked > 500, "only {checked} trims checked");
}
