//! Per-stream settings (fsync, segment size, MAXAGE, MAXBYTES): persisted
//! with the stream, in force at once, and retention removes whole segments
//! while XLEN, XRANGE and XINFO stay exact, before and after a reopen.

use bytes::Bytes;

use brook::FsyncPolicy;
use brook::engine::id::{AddId, StreamId};
use brook::engine::keyspace::{Engine, EngineConfig};
use brook::engine::settings::StreamSettings;
use brook::engine::stream::{Stream, wait_all};

fn add(e: &Engine, s: &Stream, ms: u64, seq: u64) {
    let fields = [(Bytes::from_static(b"payload"), Bytes::from(vec![b'x'; 100]))];
    let (_, c) = s
        .add(
            AddId::Explicit(StreamId::new(ms, seq)),
            &fields,
            None,
            None,
            ms,
            e.node_limits(),
        )
        .unwrap();
    wait_all(c).unwrap();
}

fn all_ids(s: &Stream) -> Vec<StreamId> {
    s.range(StreamId::MIN, StreamId::MAX, None)
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect()
}

#[test]
fn settings_persist_and_take_effect_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let own = StreamSettings {
        fsync: Some(FsyncPolicy::Always),
        segment_bytes: Some(8192),
        max_age_ms: Some(60_000),
        max_bytes: None,
    };
    {
        let e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
        assert_eq!(e.stream_settings(0, b"orders").unwrap(), None);
        let s = e.stream_or_create(0, b"orders").unwrap();
        assert_eq!(s.policy(), FsyncPolicy::EverySec);
        let s2 = e.set_stream_settings(0, b"orders", own).unwrap();
        // The open stream changed in place.
        assert!(std::sync::Arc::ptr_eq(&s, &s2));
        assert_eq!(s.policy(), FsyncPolicy::Always);
        for i in 1..=200 {
            add(&e, &s, i, 0);
        }
        // 200 records of ~120 B in segments of 8 KiB.
        assert!(s.segments().unwrap() >= 3, "{}", s.segments().unwrap());
        // A new key with settings is created, empty, as a topic is.
        e.set_stream_settings(
            1,
            b"audit",
            StreamSettings {
                fsync: Some(FsyncPolicy::No),
                ..StreamSettings::default()
            },
        )
        .unwrap();
        assert!(e.exists(1, b"audit").unwrap());
        // Enough catalog records to force a catalog snapshot.
        for i in 0..1100 {
            let k = format!("tmp{i}");
            e.stream_or_create(2, k.as_bytes()).unwrap();
            e.delete(2, k.as_bytes()).unwrap();
        }
    }
    let e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    assert_eq!(e.stream_settings(0, b"orders").unwrap(), Some(own));
    let s = e.stream(0, b"orders").unwrap().unwrap();
    assert_eq!(s.policy(), FsyncPolicy::Always);
    assert_eq!(s.len(), 200);
    let audit = e.stream(1, b"audit").unwrap().unwrap();
    assert_eq!(audit.policy(), FsyncPolicy::No);
    assert_eq!(
        e.effective_settings(e.stream_settings(1, b"audit").unwrap().unwrap()),
        StreamSettings {
            fsync: Some(FsyncPolicy::No),
            segment_bytes: Some(128 << 20),
            max_age_ms: None,
            max_bytes: None,
        }
    );
    // Back to the defaults.
    e.set_stream_settings(0, b"orders", StreamSettings::default())
        .unwrap();
    assert_eq!(s.policy(), FsyncPolicy::EverySec);
}

#[test]
fn retention_by_bytes_removes_whole_oldest_segments() {
    let dir = tempfile::tempdir().unwrap();
    let cap = 16 * 1024;
    {
        let e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
        let s = e
            .set_stream_settings(
                0,
                b"s",
                StreamSettings {
                    segment_bytes: Some(4096),
                    max_bytes: Some(cap),
                    ..StreamSettings::default()
                },
            )
            .unwrap();
        for i in 1..=1000 {
            add(&e, &s, i, 0);
        }
        let segs_before = s.segments().unwrap();
        let removed = e.enforce_retention(0).unwrap();
        assert!(removed > 800, "removed {removed}");
        assert_eq!(s.len(), 1000 - removed);
        assert!(s.segments().unwrap() < segs_before);
        let disk = s.disk_bytes().unwrap();
        // Entries within the cap plus at most one segment, the journal small.
        assert!(disk <= cap + 4096 + 8192, "disk {disk}");
        let ids = all_ids(&s);
        assert_eq!(ids.len() as u64, s.len());
        // What is left is the newest entries, contiguous to the top.
        assert_eq!(ids.last(), Some(&StreamId::new(1000, 0)));
        assert_eq!(ids[0], StreamId::new(1001 - ids.len() as u64, 0));
        let info = s.info();
        assert_eq!(info.recorded_first_entry_id, ids[0]);
        assert_eq!(info.entries_added, 1000);
        // Nothing more to remove: a second pass removes nothing.
        assert_eq!(e.enforce_retention(0).unwrap(), 0);
    }
    let e = Engine::open(dir.path(), EngineConfig::default()).unwrap();
    let s = e.stream(0, b"s").unwrap().unwrap();
    let ids = all_ids(&s);
    assert_eq!(ids.len() as u64, s.len());
    assert_eq!(ids.last(), Some(&StreamId::new(1000, 0)));
    assert_eq!(s.info().recorded_first_entry_id, ids[0]);
}

#[test]
fn retention_by_age_uses_entry_ids_and_engine_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        stream_defaults: StreamSettings {
            segment_bytes: Some(4096),
            max_age_ms: Some(10_000),
            ..StreamSettings::default()
        },
        ..EngineConfig::default()
    };
    let e = Engine::open(dir.path(), cfg).unwrap();
    let s = e.stream_or_create(0, b"events").unwrap();
    // One entry every 100 ms from t = 0 to t = 49.9 s.
    for i in 0..500 {
        add(&e, &s, 1 + i * 100, 0);
    }
    // A group with pending entries in the part that goes.
    let g = Bytes::from_static(b"g");
    wait_all(
        s.create_group(
            &g,
            brook::engine::groups::GroupStart::Id(StreamId::MIN),
            None,
        )
        .unwrap(),
    )
    .unwrap();
    let now = 50_000;
    assert_eq!(
        e.enforce_retention(now).unwrap() as usize,
        500 - s.len() as usize
    );
    let ids = all_ids(&s);
    // Every entry younger than 10 s is kept; whole segments go, so some
    // older ones may be kept too, but not a whole segment's worth of them.
    assert!(ids[0].ms <= now - 10_000, "first kept {:?}", ids[0]);
    assert!(ids.len() >= 100, "{}", ids.len());
    assert!(ids.len() < 300, "{}", ids.len());
    // Nothing younger than the cutoff went.
    assert_eq!(ids.iter().filter(|id| id.ms > now - 10_000).count(), 100);
    // The group reads from the new first entry.
    let (got, c) = s
        .read_group(
            b"events",
            &g,
            &Bytes::from_static(b"c"),
            brook::engine::groups::GroupRead::New,
            Some(1),
            false,
            now,
        )
        .unwrap();
    wait_all(c).unwrap();
    assert_eq!(got[0].0, ids[0]);
}
