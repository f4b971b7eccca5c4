//! A data directory of many logs: the lock file, bounded open logs, names.

mod common;

use brook::storage::sim::SimIo;
use brook::storage::{FsIo, Store};
use brook::{FsyncPolicy, StorageError, StoreConfig};
use common::small_cfg;

#[test]
fn a_second_store_on_the_same_directory_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let a = Store::open(FsIo::shared(), tmp.path(), StoreConfig::default()).unwrap();
    let err = match Store::open(FsIo::shared(), tmp.path(), StoreConfig::default()) {
        Ok(_) => panic!("second open succeeded"),
        Err(e) => e,
    };
    assert!(matches!(err, StorageError::Locked { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("locked by another process"), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    drop(a);
    Store::open(FsIo::shared(), tmp.path(), StoreConfig::default()).unwrap();
}

#[test]
fn open_logs_stay_bounded_and_data_persists() {
    let sim = SimIo::new();
    let cfg = StoreConfig {
        log: small_cfg(FsyncPolicy::EverySec),
        max_open_logs: 8,
    };
    let store = Store::open(sim.clone(), "/data", cfg.clone()).unwrap();
    for i in 0..200u128 {
        let log = store.log(&format!("stream-{i}")).unwrap();
        for k in 1..=10u128 {
            log.append(1, k, &i.to_le_bytes()).unwrap();
        }
        assert!(store.open_logs() <= 8);
    }
    assert_eq!(store.list().unwrap().len(), 200);
    for i in (0..200u128).step_by(7) {
        let log = store.log(&format!("stream-{i}")).unwrap();
        let recs: Vec<_> = log.iter_from(0).unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(recs.len(), 10);
        assert!(recs.iter().all(|r| r.payload[..] == i.to_le_bytes()));
    }
    store.remove("stream-3").unwrap();
    assert!(!store.contains("stream-3"));
    assert_eq!(store.list().unwrap().len(), 199);
    drop(store);
    let store = Store::open(sim.process_crash(), "/data", cfg).unwrap();
    assert_eq!(store.list().unwrap().len(), 199);
    assert_eq!(store.log("stream-199").unwrap().last_key(), Some(10));
}

#[test]
fn names_cannot_escape_the_data_directory() {
    let store = Store::open(SimIo::new(), "/data", StoreConfig::default()).unwrap();
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "a\0b",
        "x y",
        &"n".repeat(201),
    ] {
        let err = match store.log(bad) {
            Ok(_) => panic!("{bad:?} accepted"),
            Err(e) => e,
        };
        assert!(
            matches!(err, StorageError::BadName { .. }),
            "{bad:?}: {err}"
        );
    }
    store.log("ok.name_-1").unwrap();
}

#[test]
fn a_log_held_by_a_caller_is_never_opened_twice() {
    let sim = SimIo::new();
    let cfg = StoreConfig {
        log: small_cfg(FsyncPolicy::No),
        max_open_logs: 1,
    };
    let store = Store::open(sim, "/data", cfg).unwrap();
    let a = store.log("a").unwrap();
    a.append(1, 1, b"one").unwrap();
    // Opening b evicts a from the store's cache, but the caller holds it.
    let b = store.log("b").unwrap();
    b.append(1, 1, b"b").unwrap();
    let a2 = store.log("a").unwrap();
    assert!(
        std::sync::Arc::ptr_eq(&a, &a2),
        "a second writer was opened on a"
    );
    a2.append(1, 2, b"two").unwrap();
    assert_eq!(a.last_key(), Some(2));
    // Once nobody holds it, it is really closed and reopened from disk.
    drop((a, a2));
    let _ = store.log("b").unwrap();
    let a3 = store.log("a").unwrap();
    assert_eq!(a3.iter_from(0).unwrap().count(), 2);
}
