//! Compaction of the journal of lists and strings: BGREWRITEAOF and the
//! automatic trigger (`auto-aof-rewrite-percentage`, `-min-size`) shrink
//! the journal and a restart gives the same state; SIGKILL at random
//! moments while compactions run loses no acknowledged change.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Rng;
use common::server::Server;
use redis::cmd;

fn info_field(c: &mut redis::Connection, field: &str) -> u64 {
    let info: String = cmd("INFO").arg("brook").query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in {info}"))
}

fn wait_compacted(c: &mut redis::Connection, at_least: u64) {
    let t = Instant::now();
    while info_field(c, "journal_compactions") < at_least
        || info_field(c, "journal_compacting") == 1
    {
        assert!(t.elapsed() < Duration::from_secs(30), "no compaction");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn item(i: u64) -> String {
    format!("{i:08}-{}", "x".repeat(200))
}

/// Everything a test keeps: the list, the counter, the strings.
fn state(c: &mut redis::Connection) -> (Vec<String>, Option<i64>, Vec<Option<String>>, i64) {
    let q: Vec<String> = cmd("LRANGE").arg("q").arg(0).arg(-1).query(c).unwrap();
    let n: Option<i64> = cmd("GET").arg("n").query(c).unwrap();
    let s: Vec<Option<String>> = cmd("MGET").arg("s0").arg("s1").arg("s2").query(c).unwrap();
    let ttl: i64 = cmd("TTL").arg("s1").query(c).unwrap();
    (q, n, s, ttl)
}

#[test]
fn bgrewriteaof_compacts_and_a_restart_gives_the_same_state() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--appendfsync", "always"];
    let s = Server::start(dir.path(), &flags);
    let mut c = s.conn();
    // Churn: the journal holds every push and pop, the state only 100
    // items.
    let mut p = redis::pipe();
    for i in 0..5000 {
        p.cmd("RPUSH").arg("q").arg(item(i)).ignore();
        if i >= 100 {
            p.cmd("LPOP").arg("q").ignore();
        }
        p.cmd("INCR").arg("n").ignore();
    }
    p.cmd("SET").arg("s0").arg("zero").ignore();
    p.cmd("SET")
        .arg("s1")
        .arg("one")
        .arg("EX")
        .arg(1000)
        .ignore();
    p.cmd("SET").arg("s2").arg("two").ignore();
    p.cmd("DEL").arg("s2").ignore();
    p.cmd("RPUSH").arg("gone").arg("a").ignore();
    p.cmd("PEXPIRE").arg("gone").arg(1).ignore();
    let () = p.query(&mut c).unwrap();
    let before = state(&mut c);
    let big = info_field(&mut c, "journal_bytes");
    let r: String = cmd("BGREWRITEAOF").query(&mut c).unwrap();
    assert_eq!(r, "Background append only file rewriting started");
    wait_compacted(&mut c, 1);
    let small = info_field(&mut c, "journal_bytes");
    eprintln!("journal: {big} bytes before, {small} after");
    assert!(small * 10 < big, "{big} -> {small}");
    assert_eq!(state(&mut c), before);
    // Changes after the compaction are kept too.
    let () = cmd("RPUSH")
        .arg("q")
        .arg("after")
        .query(&mut c)
        .unwrap_or(());
    let before = state(&mut c);
    drop(c);
    s.kill9();
    let s = Server::start(dir.path(), &flags);
    let mut c = s.conn();
    assert_eq!(state(&mut c), before);
    assert_eq!(cmd("EXISTS").arg("gone").query::<i64>(&mut c).unwrap(), 0);
    // The files shrank too: the segments before the snapshot are gone.
    let on_disk: u64 = walk(dir.path());
    assert!(on_disk < big, "{on_disk} bytes on disk, {big} before");
    drop(s);
}

fn walk(p: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        n += if m.is_dir() { walk(&e.path()) } else { m.len() };
    }
    n
}

/// The model of the workload: the list and the counter after each op.
#[derive(Clone, Default, PartialEq, Debug)]
struct Model {
    q: VecDeque<String>,
    n: i64,
}

enum Op {
    Push(String),
    Pop,
    Incr,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Push(v) => self.q.push_back(v.clone()),
            Op::Pop => {
                self.q.pop_front();
            }
            Op::Incr => self.n += 1,
        }
    }
}

#[test]
fn sigkill_during_compactions_loses_nothing() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("compaction crash: seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    // Compactions every few hundred kB of churn; SIGKILL keeps what was
    // written, so `everysec` must lose nothing acknowledged here either.
    let flags = [
        "--appendfsync",
        "everysec",
        "--auto-aof-rewrite-min-size",
        "262144",
        "--auto-aof-rewrite-percentage",
        "30",
    ];
    let mut model = Model::default();
    let mut next = 0u64;
    let mut compactions = 0;
    let cycles = std::env::var("BROOK_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6);
    for cycle in 0..cycles {
        let s = Server::start(dir.path(), &flags);
        let mut c = s.conn();
        // What the restart gave back is the model's state exactly.
        let q: Vec<String> = cmd("LRANGE").arg("q").arg(0).arg(-1).query(&mut c).unwrap();
        let n: Option<i64> = cmd("GET").arg("n").query(&mut c).unwrap();
        assert_eq!(
            (q, n.unwrap_or(0)),
            (Vec::from(model.q.clone()), model.n),
            "cycle {cycle}"
        );
        // A workload in pipelined batches, in a thread; the kill comes at a
        // random moment.
        let kill_after = Duration::from_millis(200 + rng.next() % 600);
        let mut batches: Vec<Vec<Op>> = Vec::new();
        for _ in 0..2000 {
            let mut b = Vec::new();
            for _ in 0..50 {
                let op = match rng.next() % 10 {
                    0..=4 => {
                        next += 1;
                        Op::Push(item(next))
                    }
                    5..=7 if model.q.len() > 3000 => Op::Pop,
                    5..=8 => Op::Incr,
                    _ => Op::Pop,
                };
                b.push(op);
            }
            batches.push(b);
        }
        let mut conn = s.conn();
        let worker = std::thread::spawn(move || {
            let mut acked = 0;
            for b in &batches {
                let mut p = redis::pipe();
                for op in b {
                    match op {
                        Op::Push(v) => p.cmd("RPUSH").arg("q").arg(v).ignore(),
                        Op::Pop => p.cmd("LPOP").arg("q").ignore(),
                        Op::Incr => p.cmd("INCR").arg("n").ignore(),
                    };
                }
                if p.query::<()>(&mut conn).is_err() {
                    break;
                }
                acked += 1;
            }
            (batches, acked)
        });
        std::thread::sleep(kill_after);
        compactions += info_field(&mut c, "journal_compactions");
        drop(c);
        s.kill9();
        let (batches, acked) = worker.join().unwrap();
        // Acknowledged batches are in; of the one in flight, any prefix.
        for b in &batches[..acked] {
            b.iter().for_each(|op| model.apply(op));
        }
        if let Some(b) = batches.get(acked) {
            let s = Server::start(dir.path(), &flags);
            let mut c = s.conn();
            let q: Vec<String> = cmd("LRANGE").arg("q").arg(0).arg(-1).query(&mut c).unwrap();
            let n: i64 = cmd("GET")
                .arg("n")
                .query::<Option<i64>>(&mut c)
                .unwrap()
                .unwrap_or(0);
            let mut m = model.clone();
            let mut found = (Vec::from(m.q.clone()), m.n) == (q.clone(), n);
            for op in b {
                if found {
                    break;
                }
                m.apply(op);
                found = (Vec::from(m.q.clone()), m.n) == (q.clone(), n);
            }
            assert!(
                found,
                "cycle {cycle} (seed {seed}): the state is no prefix of the batch in flight"
            );
            model = m;
            drop(c);
            s.kill9();
        }
        eprintln!(
            "cycle {cycle}: {acked} batches acknowledged, {} items listed",
            model.q.len()
        );
    }
    eprintln!("compaction crash: {cycles} cycles, {compactions} compactions seen before the kills");
    assert!(
        compactions > 0,
        "no compaction ran: the test proved nothing"
    );
}
