//! EIO on fsync, through the engine, on the simulated disk: the stream's log
//! goes read-only with a `MISCONF` error (the text a client gets), never
//! acknowledges the write whose fsync failed, keeps serving reads, and takes
//! writes again once reopened.

use bytes::Bytes;

use brook::engine::id::AddId;
use brook::engine::keyspace::{Engine, EngineConfig};
use brook::engine::stream::wait_all;
use brook::storage::sim::SimIo;
use brook::{FsyncPolicy, LogConfig, StoreConfig};

fn open(sim: &std::sync::Arc<SimIo>) -> Engine {
    let cfg = EngineConfig {
        store: StoreConfig {
            log: LogConfig {
                fsync: FsyncPolicy::Always,
                ..LogConfig::default()
            },
            ..StoreConfig::default()
        },
        ..EngineConfig::default()
    };
    Engine::open_with(sim.clone(), "/d", cfg).unwrap()
}

fn add(e: &Engine, v: &str) -> Result<String, String> {
    let s = e.stream_or_create(0, b"s").map_err(|x| x.to_string())?;
    let f = vec![(Bytes::from("v"), Bytes::from(v.to_string()))];
    let (id, c) = s
        .add(AddId::Auto, &f, None, None, 1, e.node_limits())
        .map_err(|x| x.to_string())?;
    wait_all(c).map_err(|x| x.to_string())?;
    Ok(id.to_string())
}

fn len(e: &Engine) -> u64 {
    e.stream(0, b"s").unwrap().unwrap().info().length
}

#[test]
fn a_failed_fsync_makes_the_log_read_only_until_reopened() {
    let sim = SimIo::new();
    let e = open(&sim);
    for i in 0..10 {
        add(&e, &format!("a{i}")).unwrap();
    }
    sim.fail_syncs(1);
    let err = add(&e, "lost").unwrap_err();
    assert!(err.starts_with("MISCONF Errors writing to disk:"), "{err}");
    assert!(err.contains("fsync"), "{err}");
    // Read-only from now on, even though the disk works again.
    let err = add(&e, "refused").unwrap_err();
    assert!(err.starts_with("MISCONF"), "{err}");
    assert!(err.contains("refuses writes"), "{err}");
    // Reads go on, with everything acknowledged.
    let s = e.stream(0, b"s").unwrap().unwrap();
    let got = s
        .range(Default::default(), brook::engine::id::StreamId::MAX, None)
        .unwrap();
    assert!(got.len() >= 10);
    assert_eq!(got[9].fields[0].1, Bytes::from("a9"));
    drop(s);
    drop(e);
    // Reopened, the log re-validates its tail and takes writes.
    let e = open(&sim);
    let before = len(&e);
    add(&e, "after").unwrap();
    assert_eq!(len(&e), before + 1);
}
