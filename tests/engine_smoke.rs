//! The engine end to end: streams, groups and the keyspace survive a
//! reopen exactly.

use bytes::Bytes;

use brook::EngineError;
use brook::engine::groups::{GroupRead, GroupStart};
use brook::engine::id::{AddId, StreamId};
use brook::engine::keyspace::{Engine, EngineConfig, KeyType};
use brook::engine::stream::{Trim, TrimStrategy, wait_all};

fn fv(pairs: &[(&str, &str)]) -> Vec<(Bytes, Bytes)> {
    pairs
        .iter()
        .map(|(f, v)| (Bytes::from(f.to_string()), Bytes::from(v.to_string())))
        .collect()
}

fn add(e: &Engine, key: &str, id: &str, pairs: &[(&str, &str)]) -> Result<StreamId, EngineError> {
    let s = e.stream_or_create(0, key.as_bytes())?;
    let (id, c) = s.add(
        AddId::parse(id.as_bytes())?,
        &fv(pairs),
        None,
        None,
        1000,
        e.node_limits(),
    )?;
    wait_all(c)?;
    Ok(id)
}

#[test]
fn streams_groups_and_keys_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let g = Bytes::from_static(b"g");
    let alice = Bytes::from_static(b"alice");
    {
        let e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
        for i in 1..=10 {
            add(
                &e,
                "s",
                &format!("{i}-0"),
                &[("f", &i.to_string()), ("g", "x")],
            )
            .unwrap();
        }
        assert!(matches!(
            add(&e, "s", "3-0", &[("a", "b")]),
            Err(EngineError::IdTooSmall)
        ));
        assert!(matches!(
            add(&e, "s", "0-0", &[("a", "b")]),
            Err(EngineError::IdZero)
        ));
        let s = e.stream(0, b"s").unwrap().unwrap();
        let (n, c) = s
            .delete(&[
                StreamId::new(1, 0),
                StreamId::new(5, 0),
                StreamId::new(99, 0),
            ])
            .unwrap();
        wait_all(c).unwrap();
        assert_eq!(n, 2);
        let t = Trim {
            strategy: TrimStrategy::MaxLen(7),
            approx: false,
            limit: None,
        };
        let (n, c) = s.trim(t, e.node_limits()).unwrap();
        wait_all(c).unwrap();
        assert_eq!(n, 1);
        wait_all(
            s.create_group(&g, GroupStart::Id(StreamId::MIN), None)
                .unwrap(),
        )
        .unwrap();
        let (got, c) = s
            .read_group(b"s", &g, &alice, GroupRead::New, Some(3), false, 2000)
            .unwrap();
        wait_all(c).unwrap();
        assert_eq!(
            got.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![
                StreamId::new(3, 0),
                StreamId::new(4, 0),
                StreamId::new(6, 0)
            ]
        );
        let (n, c) = s.ack(&g, &[StreamId::new(4, 0)]).unwrap();
        wait_all(c).unwrap();
        assert_eq!(n, 1);
        add(&e, "other", "*", &[("k", "v")]).unwrap();
        assert!(e.move_key(0, b"other", 3).unwrap());
    }
    let e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let s = e.stream(0, b"s").unwrap().unwrap();
    assert_eq!(s.len(), 7);
    let info = s.info();
    assert_eq!(info.entries_added, 10);
    assert_eq!(info.max_deleted_entry_id, StreamId::new(5, 0));
    assert_eq!(info.recorded_first_entry_id, StreamId::new(3, 0));
    let ids: Vec<_> = s
        .range(StreamId::MIN, StreamId::MAX, None)
        .unwrap()
        .into_iter()
        .map(|e| e.id.ms)
        .collect();
    assert_eq!(ids, vec![3, 4, 6, 7, 8, 9, 10]);
    let rev: Vec<_> = s
        .rev_range(StreamId::MAX, StreamId::MIN, Some(3))
        .unwrap()
        .into_iter()
        .map(|e| e.id.ms)
        .collect();
    assert_eq!(rev, vec![10, 9, 8]);
    assert_eq!(
        s.range(StreamId::new(6, 0), StreamId::new(6, 0), None)
            .unwrap()[0]
            .fields,
        fv(&[("f", "6"), ("g", "x")])
    );
    let p = s.pending_summary(b"s", b"g").unwrap();
    assert_eq!(p.count, 2);
    assert_eq!(p.consumers, vec![(alice.clone(), 2)]);
    let gi = s.groups_info();
    assert_eq!(gi[0].last_delivered_id, StreamId::new(6, 0));
    assert_eq!(e.key_type(3, b"other").unwrap(), Some(KeyType::Stream));
    assert!(!e.exists(0, b"other").unwrap());
    assert!(e.delete(3, b"other").unwrap());
    drop(s);
    drop(e);
    let e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    assert!(!e.exists(3, b"other").unwrap());
    assert_eq!(e.keys(0, b"*").unwrap(), vec![Bytes::from_static(b"s")]);
}
