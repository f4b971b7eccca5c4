//! A batch of list changes whose journal write fails (the disk is full):
//! memory is reloaded from the journal, so it never holds a change the
//! journal lacks, and writes work again once there is room.

use std::collections::VecDeque;

use brook::engine::keyspace::{Engine, EngineConfig};
use brook::engine::memory::Op;
use brook::storage::sim::SimIo;
use bytes::Bytes;

fn push(key: &str, item: &str) -> Op {
    Op::Push {
        db: 0,
        key: Bytes::copy_from_slice(key.as_bytes()),
        tail: true,
        items: vec![Bytes::copy_from_slice(item.as_bytes())],
    }
}

fn list(e: &Engine, key: &str) -> Vec<String> {
    let (l, _) = e
        .mem(0, |m| {
            m.list(key.as_bytes(), |l| {
                l.map_or_else(VecDeque::new, |l| l.clone())
            })
        })
        .unwrap();
    l.iter()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect()
}

#[test]
fn a_failed_batch_write_reloads_lists_from_the_journal() {
    let io = SimIo::new();
    let dir = std::path::PathBuf::from("/sim/brook");
    let e = Engine::open_with(io.clone(), &dir, EngineConfig::default()).unwrap();
    let (_, c) = e.mem(0, |m| m.apply(vec![push("q", "kept")])).unwrap();
    c.unwrap().wait().unwrap();

    // The disk fills up; a batch applies two pushes and a pop, then its
    // journal record cannot be written.
    io.set_capacity(Some(io.used() + 1000));
    let mut b = e.mem_batch();
    let big = "b".repeat(200_000);
    b.run(0, |m| m.apply(vec![push("q", "a"), push("other", &big)]))
        .unwrap();
    b.run(0, |m| {
        m.apply(vec![Op::Pop {
            db: 0,
            key: Bytes::from_static(b"q"),
            tail: false,
            count: 1,
        }])
    })
    .unwrap();
    assert!(b.finish().is_err());
    // Memory is the journal's: the batch left nothing behind.
    assert_eq!(list(&e, "q"), ["kept"]);
    assert!(list(&e, "other").is_empty());

    // Room again: writes resume and survive a reopen.
    io.set_capacity(None);
    let mut b = e.mem_batch();
    b.run(0, |m| m.apply(vec![push("q", "later")])).unwrap();
    b.finish().unwrap().unwrap().wait().unwrap();
    drop(e);
    let e = Engine::open_with(io, &dir, EngineConfig::default()).unwrap();
    assert_eq!(list(&e, "q"), ["kept", "later"]);
}
