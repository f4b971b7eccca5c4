//! A batch of list changes whose journal write fails (the disk is full):
//! memory is reloaded from the journal, so it never holds a change the
//! journal lacks, and writes work again once there is room. Batches that
//! stage their ops share one record, written before any later one.

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

/// Opens the engine on the simulated disk.
fn open(io: &std::sync::Arc<SimIo>, cfg: EngineConfig) -> Engine {
    Engine::open_with(io.clone(), std::path::Path::new("/sim/brook"), cfg).unwrap()
}

/// Journals `ops` as one direct write and waits until it is durable.
fn write(e: &Engine, ops: Vec<Op>) {
    let (_, c) = e.mem(0, |m| m.apply(ops)).unwrap();
    c.unwrap().wait().unwrap();
}

#[test]
fn a_failed_batch_write_reloads_lists_from_the_journal() {
    let io = SimIo::new();
    let e = open(&io, EngineConfig::default());
    write(&e, vec![push("q", "kept")]);

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
    let e = open(&io, EngineConfig::default());
    assert_eq!(list(&e, "q"), ["kept", "later"]);
}

/// A batch that stages its ops (as the server's connections do).
fn stage(e: &Engine, ops: Vec<Op>) -> std::sync::Arc<brook::engine::keyspace::StagedTicket> {
    let mut b = e.mem_batch();
    b.run(0, |m| m.apply(ops)).unwrap();
    b.stage().unwrap().expect("the batch changed something")
}

#[test]
fn staged_batches_share_one_record_written_before_any_later_one() {
    let io = SimIo::new();
    let e = open(&io, EngineConfig::default());
    let size = e.journal().size();

    // Two connections' batches: applied at once, written by neither.
    let t1 = stage(&e, vec![push("q", "a")]);
    let t2 = stage(&e, vec![push("q", "b"), push("r", "x")]);
    assert!(std::sync::Arc::ptr_eq(&t1, &t2), "one record for both");
    assert!(e.has_staged());
    assert!(t1.result().is_none());
    assert_eq!(e.journal().size(), size, "nothing written yet");
    assert_eq!(list(&e, "q"), ["a", "b"]);

    // The first flush writes them as one record; the next has nothing.
    e.flush_staged().unwrap();
    assert!(matches!(t1.result(), Some(Ok(_))));
    assert!(!e.has_staged());
    let after_one = e.journal().size();
    assert!(after_one > size);
    e.flush_staged().unwrap();
    assert_eq!(e.journal().size(), after_one);

    // A direct write journals what is staged first, in order.
    let t3 = stage(&e, vec![push("q", "c")]);
    write(&e, vec![push("q", "d")]);
    assert!(matches!(t3.result(), Some(Ok(_))));

    // Staged when the engine closes: the close writes it.
    let t4 = stage(&e, vec![push("q", "e")]);
    drop(e);
    assert!(matches!(t4.result(), Some(Ok(_))));
    let e = open(&io, EngineConfig::default());
    assert_eq!(list(&e, "q"), ["a", "b", "c", "d", "e"]);
    assert_eq!(list(&e, "r"), ["x"]);
}

#[test]
fn a_failed_staged_write_reaches_every_ticket_and_reloads_memory() {
    let io = SimIo::new();
    let e = open(&io, EngineConfig::default());
    write(&e, vec![push("q", "kept")]);

    io.set_capacity(Some(io.used() + 1000));
    let big = "b".repeat(200_000);
    let t1 = stage(&e, vec![push("q", "a")]);
    let t2 = stage(&e, vec![push("other", &big)]);
    let err = e.flush_staged().unwrap_err().to_string();
    assert!(err.starts_with("MISCONF"), "{err}");
    for t in [&t1, &t2] {
        match t.result() {
            Some(Err(msg)) => assert_eq!(msg, err),
            Some(Ok(_)) => panic!("the ticket says written"),
            None => panic!("the ticket was not told"),
        }
    }
    assert!(!e.has_staged());
    assert_eq!(list(&e, "q"), ["kept"]);
    assert!(list(&e, "other").is_empty());

    // A later direct write finds nothing staged and works once there is room.
    io.set_capacity(None);
    write(&e, vec![push("q", "later")]);
    drop(e);
    let e = open(&io, EngineConfig::default());
    assert_eq!(list(&e, "q"), ["kept", "later"]);
}

#[test]
fn a_compaction_that_cannot_start_waits_for_the_journal_to_grow_again() {
    use std::sync::atomic::Ordering::Relaxed;
    let io = SimIo::new();
    let cfg = EngineConfig {
        journal_rewrite_pct: 0,
        journal_rewrite_min: 1,
        ..EngineConfig::default()
    };
    let e = open(&io, cfg);
    let write = |e: &Engine, item: String| write(e, vec![push("q", &item)]);
    // About 90 kB of records: the open segment has room preallocated
    // beyond them.
    for i in 0..1000 {
        write(&e, format!("item {i:>50}"));
    }
    // No room for the new segment a compaction starts with; then
    // compactions are on, and the journal is past twice its size at open.
    io.set_capacity(Some(io.used()));
    e.journal().rewrite_pct.store(100, Relaxed);
    for i in 1000..1020 {
        write(&e, format!("item {i:>50}"));
    }
    e.quiesce().unwrap();
    // The first of these writes started a compaction, which failed; the
    // others did not try again (each try copies every list under the
    // keyspace lock).
    assert_eq!(e.journal().failures.load(Relaxed), 1);
    assert_eq!(e.journal().compactions.load(Relaxed), 0);

    // Room again: once the journal has grown as much more, it compacts.
    io.set_capacity(None);
    let size = e.journal().size();
    let mut n = 1020;
    while e.journal().size() < 2 * size + 256 {
        write(&e, format!("item {n:>50}"));
        n += 1;
    }
    e.quiesce().unwrap();
    assert_eq!(e.journal().compactions.load(Relaxed), 1);
    assert_eq!(e.journal().failures.load(Relaxed), 0);
    drop(e);
    let e = open(&io, EngineConfig::default());
    assert_eq!(list(&e, "q").len(), n);
}
