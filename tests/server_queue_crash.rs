//! The reliable-queue pattern under random SIGKILLs: three producers
//! `LPUSH jobs`, three workers `BLMOVE jobs processing` and, once a job is
//! done, `LREM processing 1 <job>`, against a server under
//! `--appendfsync always`. The server is killed at a random moment,
//! restarted on the same directory, checked, and the next cycle runs on the
//! restarted server.
//!
//! After every restart, with J = `LRANGE jobs` and P = `LRANGE processing`:
//! - nothing acknowledged is lost: an acknowledged push is in J, in P,
//!   completed (its LREM answered 1), or its LREM was cut off by the kill;
//! - an acknowledged move holds: an item a BLMOVE reply handed out is in P,
//!   completed, or its LREM was cut off, and is never back in J;
//! - nothing is duplicated: no item twice across J and P, no completed item
//!   in J or P, and BLMOVE never hands out the same item twice;
//! - nothing is made up: every item in J, P or a BLMOVE reply was pushed
//!   (acknowledged, or in flight at a kill).
//!
//! A command whose reply the kill cut off may or may not have happened; the
//! test accepts both outcomes and nothing else. Nothing moves items back
//! from `processing` between cycles, as a real application's recovery step
//! would, so the state checked is exactly what the journal replayed.
//!
//! `BROOK_CRASH_CYCLES` sets the number of cycles (default 8);
//! `BROOK_CRASH_SEED` replays the kill delays of a printed seed (the thread
//! interleaving is not replayed).

mod common;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Rng;
use common::server::Server;
use redis::{Connection, RedisError, RedisResult, cmd};

/// Every reply waits for the journal fsync.
const FLAGS: &[&str] = &["--appendfsync", "always"];
const PRODUCERS: usize = 3;
const WORKERS: usize = 3;
/// BLMOVE's own timeout, so that an idle worker comes back to its loop.
const BLMOVE_TIMEOUT_SECS: &str = "0.2";
/// Far longer than any reply of a live server: it only bounds a hang if a
/// dead server's socket were somehow not closed.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a cycle may take to get its first push acknowledged.
const FIRST_ACK_DEADLINE: Duration = Duration::from_secs(5);
/// Kill delays are drawn from `KILL_MIN_MS .. KILL_MIN_MS + KILL_SPREAD_MS`.
const KILL_MIN_MS: u64 = 100;
const KILL_SPREAD_MS: u64 = 300;

/// What the clients know, shared by every thread of every cycle. The sets
/// only grow, so each check covers the whole history.
#[derive(Default)]
struct Ledger {
    /// Pushes whose LPUSH answered: each must survive every kill.
    acked: Mutex<HashSet<String>>,
    /// Pushes sent whose reply never came: they may exist or not.
    in_flight: Mutex<HashSet<String>>,
    /// Items a BLMOVE reply handed to a worker: that move is journaled.
    moved: Mutex<HashSet<String>>,
    /// Items whose `LREM processing 1` answered 1: gone for good.
    done: Mutex<HashSet<String>>,
    /// Moved items whose LREM reply never came: in P, or gone.
    lrem_in_flight: Mutex<HashSet<String>>,
    /// Failures the threads saw while the server was up; checked with the
    /// rest after the restart, because a client thread must not panic.
    anomalies: Mutex<Vec<String>>,
}

impl Ledger {
    fn add(set: &Mutex<HashSet<String>>, item: &str) -> bool {
        set.lock().unwrap().insert(item.to_string())
    }

    fn anomaly(&self, what: String) {
        self.anomalies.lock().unwrap().push(what);
    }

    fn len(set: &Mutex<HashSet<String>>) -> usize {
        set.lock().unwrap().len()
    }
}

fn lpush(con: &mut Connection, item: &str) -> RedisResult<i64> {
    cmd("LPUSH").arg("jobs").arg(item).query(con)
}

/// Takes the oldest job (producers push on the left) into `processing`.
fn blmove(con: &mut Connection) -> RedisResult<Option<String>> {
    cmd("BLMOVE")
        .arg("jobs")
        .arg("processing")
        .arg("RIGHT")
        .arg("LEFT")
        .arg(BLMOVE_TIMEOUT_SECS)
        .query(con)
}

fn lrem(con: &mut Connection, item: &str) -> RedisResult<i64> {
    cmd("LREM").arg("processing").arg(1).arg(item).query(con)
}

fn list(con: &mut Connection, key: &str) -> Vec<String> {
    cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query(con)
        .expect("LRANGE on the restarted server")
}

/// Records why a client thread stops. An I/O error after the kill is the
/// dead socket; anything else (an error reply, a reply of the wrong type,
/// any error while the server should be up) is a failure.
fn note_stop(ledger: &Ledger, who: &str, what: &str, err: &RedisError, kill_sent: &AtomicBool) {
    if !(kill_sent.load(Ordering::SeqCst) && err.is_io_error()) {
        ledger.anomaly(format!(
            "{who}: {what} failed with the server up, or with a reply: {err}"
        ));
    }
}

/// Pushes unique items until the first error.
fn produce(
    mut con: Connection,
    cycle: usize,
    producer: usize,
    ledger: &Ledger,
    kill_sent: &AtomicBool,
) {
    let who = format!("producer {producer}");
    for n in 0u64.. {
        if kill_sent.load(Ordering::SeqCst) {
            return;
        }
        let item = format!("p{cycle}-{producer}-{n}");
        match lpush(&mut con, &item) {
            Ok(_) => {
                Ledger::add(&ledger.acked, &item);
            }
            Err(e) => {
                // The reply is lost, not necessarily the push: it may have
                // been journaled before the kill.
                Ledger::add(&ledger.in_flight, &item);
                note_stop(ledger, &who, &format!("LPUSH {item}"), &e, kill_sent);
                return;
            }
        }
    }
}

/// Moves a job into `processing`, then completes it, until the first error.
fn work(mut con: Connection, worker: usize, ledger: &Ledger, kill_sent: &AtomicBool) {
    let who = format!("worker {worker}");
    while !kill_sent.load(Ordering::SeqCst) {
        let item = match blmove(&mut con) {
            Ok(Some(item)) => item,
            // The queue stayed empty for the BLMOVE timeout.
            Ok(None) => continue,
            Err(e) => {
                // A move whose reply was cut off leaves an unknown item in J
                // or in P; the check allows both.
                note_stop(ledger, &who, "BLMOVE", &e, kill_sent);
                return;
            }
        };
        if !Ledger::add(&ledger.moved, &item) {
            ledger.anomaly(format!("{who}: BLMOVE handed out {item} a second time"));
        }
        match lrem(&mut con, &item) {
            Ok(1) => {
                Ledger::add(&ledger.done, &item);
            }
            Ok(n) => ledger.anomaly(format!(
                "{who}: LREM processing 1 {item} answered {n}: the item it had just moved \
                 was not in processing"
            )),
            Err(e) => {
                Ledger::add(&ledger.lrem_in_flight, &item);
                note_stop(ledger, &who, &format!("LREM {item}"), &e, kill_sent);
                return;
            }
        }
    }
}

/// A connection that cannot hang forever on a reply.
fn connect(server: &Server) -> Connection {
    let con = server.conn();
    con.set_read_timeout(Some(READ_TIMEOUT))
        .expect("set the read timeout");
    con
}

/// One cycle's client threads. All connect before any of them starts, so
/// none can try to connect to a killed server.
struct Clients {
    threads: Vec<JoinHandle<()>>,
    /// Set just before the SIGKILL: errors after it are expected.
    kill_sent: Arc<AtomicBool>,
}

impl Clients {
    fn start(server: &Server, cycle: usize, ledger: &Arc<Ledger>) -> Clients {
        let kill_sent = Arc::new(AtomicBool::new(false));
        let producers: Vec<Connection> = (0..PRODUCERS).map(|_| connect(server)).collect();
        let workers: Vec<Connection> = (0..WORKERS).map(|_| connect(server)).collect();
        let mut threads = Vec::new();
        for (p, con) in producers.into_iter().enumerate() {
            let (ledger, kill_sent) = (ledger.clone(), kill_sent.clone());
            threads.push(std::thread::spawn(move || {
                produce(con, cycle, p, &ledger, &kill_sent)
            }));
        }
        for (w, con) in workers.into_iter().enumerate() {
            let (ledger, kill_sent) = (ledger.clone(), kill_sent.clone());
            threads.push(std::thread::spawn(move || {
                work(con, w, &ledger, &kill_sent)
            }));
        }
        Clients { threads, kill_sent }
    }

    /// Kills the server with SIGKILL and waits for every thread to stop on
    /// its first error.
    fn kill_server(self, server: Server) {
        self.kill_sent.store(true, Ordering::SeqCst);
        server.kill9();
        for t in self.threads {
            t.join().expect("a client thread panicked");
        }
    }
}

/// Waits until this cycle has at least one acknowledged push, so that every
/// cycle tests something even on a slow machine.
fn wait_for_first_ack(ledger: &Ledger, acked_before: usize, cycle: usize) {
    let deadline = Instant::now() + FIRST_ACK_DEADLINE;
    while Ledger::len(&ledger.acked) == acked_before {
        assert!(
            Instant::now() < deadline,
            "cycle {cycle}: no LPUSH acknowledged within {FIRST_ACK_DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Adds a failure line naming how many items broke `rule`, with a few of them.
fn report<'a>(failures: &mut Vec<String>, rule: &str, items: impl Iterator<Item = &'a str>) {
    let mut items: Vec<&str> = items.collect();
    if items.is_empty() {
        return;
    }
    items.sort_unstable();
    let more = if items.len() > 10 { " …" } else { "" };
    failures.push(format!(
        "{} item(s) {rule}: {:?}{more}",
        items.len(),
        &items[..items.len().min(10)]
    ));
}

/// Checks the restarted server against the ledger (module doc); returns the
/// lengths of `jobs` and `processing`.
fn check_after_restart(
    con: &mut Connection,
    ledger: &Ledger,
    cycle: usize,
    seed: u64,
) -> (usize, usize) {
    let jobs = list(con, "jobs");
    let processing = list(con, "processing");
    // The threads are joined: these locks see the final state of the cycle.
    let acked = ledger.acked.lock().unwrap();
    let in_flight = ledger.in_flight.lock().unwrap();
    let moved = ledger.moved.lock().unwrap();
    let done = ledger.done.lock().unwrap();
    let lrem_in_flight = ledger.lrem_in_flight.lock().unwrap();
    let anomalies = ledger.anomalies.lock().unwrap();

    let mut failures: Vec<String> = anomalies.iter().cloned().collect();
    let mut count: HashMap<&str, usize> = HashMap::new();
    for item in jobs.iter().chain(&processing) {
        *count.entry(item.as_str()).or_default() += 1;
    }
    let in_jobs: HashSet<&str> = jobs.iter().map(String::as_str).collect();
    let in_processing: HashSet<&str> = processing.iter().map(String::as_str).collect();
    let queued = |i: &str| in_jobs.contains(i) || in_processing.contains(i);
    let pushed = |i: &str| acked.contains(i) || in_flight.contains(i);

    report(
        &mut failures,
        "DUPLICATED: more than once across jobs and processing",
        count.iter().filter(|(_, n)| **n > 1).map(|(i, _)| *i),
    );
    report(
        &mut failures,
        "completed (LREM answered 1) yet back in jobs or processing",
        count.keys().copied().filter(|i| done.contains(*i)),
    );
    report(
        &mut failures,
        "in jobs or processing but never pushed (phantom)",
        count.keys().copied().filter(|i| !pushed(i)),
    );
    report(
        &mut failures,
        "LOST: push acknowledged, yet not in jobs, processing or done, and no LREM in flight",
        acked
            .iter()
            .map(String::as_str)
            .filter(|i| !queued(i) && !done.contains(*i) && !lrem_in_flight.contains(*i)),
    );
    report(
        &mut failures,
        "moved (BLMOVE answered) yet back in jobs: the acknowledged move was undone",
        moved
            .iter()
            .map(String::as_str)
            .filter(|i| in_jobs.contains(i)),
    );
    report(
        &mut failures,
        "LOST: moved (BLMOVE answered), yet neither in processing nor done, and no LREM in flight",
        moved
            .iter()
            .map(String::as_str)
            .filter(|i| !queued(i) && !done.contains(*i) && !lrem_in_flight.contains(*i)),
    );
    report(
        &mut failures,
        "handed out by BLMOVE but never pushed (phantom)",
        moved.iter().map(String::as_str).filter(|i| !pushed(i)),
    );
    assert!(
        failures.is_empty(),
        "cycle {cycle} (seed {seed}), after kill -9 and restart, jobs {} items, processing {} items:\n{}",
        jobs.len(),
        processing.len(),
        failures.join("\n")
    );
    (jobs.len(), processing.len())
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn reliable_queue_survives_random_kills() {
    let cycles: usize = env_or("BROOK_CRASH_CYCLES", 8);
    let time_seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let seed: u64 = env_or("BROOK_CRASH_SEED", time_seed);
    eprintln!("queue crash: seed {seed} (BROOK_CRASH_SEED={seed} replays the kill delays)");
    // xorshift stays at 0 from 0.
    let mut rng = Rng(seed.max(1));
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::default());
    let started = Instant::now();
    let mut left = (0, 0);

    let mut server = Server::start(tmp.path(), FLAGS);
    for cycle in 0..cycles {
        let acked_before = Ledger::len(&ledger.acked);
        let clients = Clients::start(&server, cycle, &ledger);
        std::thread::sleep(Duration::from_millis(
            KILL_MIN_MS + rng.next() % KILL_SPREAD_MS,
        ));
        wait_for_first_ack(&ledger, acked_before, cycle);
        clients.kill_server(server);
        // No recovery step: the restarted server is checked as replayed,
        // and the next cycle runs on it.
        server = Server::start(tmp.path(), FLAGS);
        left = check_after_restart(&mut server.conn(), &ledger, cycle, seed);
    }

    let acked = Ledger::len(&ledger.acked);
    let moves = Ledger::len(&ledger.moved);
    let completions = Ledger::len(&ledger.done);
    eprintln!(
        "queue crash: {cycles} cycles, {acked} pushes acknowledged, {} in flight at a kill, \
         {moves} moves, {completions} completions, {} LREMs in flight at a kill, \
         {} left in jobs, {} in processing, lost 0, duplicates 0, in {:.1?}",
        Ledger::len(&ledger.in_flight),
        Ledger::len(&ledger.lrem_in_flight),
        left.0,
        left.1,
        started.elapsed()
    );
    // The checks above pass vacuously if the queue never moved.
    assert!(acked > 0, "no push was acknowledged");
    assert!(moves > 0, "no BLMOVE handed out a job");
    assert!(completions > 0, "no job was completed");
}
