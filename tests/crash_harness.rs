//! The crash-consistency harness: streams, consumer groups and a list queue
//! under random SIGKILLs, with `--appendfsync always`, then torn files.
//!
//! Each cycle runs, against the same server, until a kill at a random moment:
//! - 2 producers `XADD events * v <item>` (unique items);
//! - 2 consumers `XREADGROUP GROUP g cN COUNT 5 BLOCK 100 STREAMS events >`,
//!   each acking (`XACK`, one ID a call) the entries whose item number is
//!   even and leaving the odd ones pending: stuck work;
//! - 1 claimer: `XPENDING events IDLE 50 - + 5`, `XCLAIM events g claimer 50`
//!   of those IDs, then `XACK` of every other one it claimed;
//! - 1 list producer `LPUSH jobs <item>` and 1 worker
//!   `BLMOVE jobs processing RIGHT LEFT 0.1`.
//!
//! Every reply is recorded. After the restart the harness checks:
//! - nothing acknowledged is lost: every acknowledged XADD is in the stream
//!   with its ID and item, every acknowledged LPUSH is in `jobs` or
//!   `processing`, every acknowledged move is in `processing`;
//! - nothing is made up: every entry and list item was sent (acknowledged or
//!   in flight at the kill), under the ID its reply gave, and no moved item
//!   is back in `jobs`;
//! - no duplicates: IDs strictly increase, no item twice in the stream or
//!   across the lists, and `>` never handed out the same ID twice;
//! - the PEL agrees: an acknowledged XACK's ID is never pending again; a
//!   delivered ID no XACK was sent for is pending, owned by the claimer if
//!   an XCLAIM reply gave it to the claimer (and no later claim of it was
//!   in flight), otherwise by the consumer it was delivered to; a pending ID
//!   nobody saw delivered is only possible from a read whose reply the kill
//!   cut off.
//!
//! Then `torn_files_still_serve` kills the server, cuts the newest files of
//! the data directory at random offsets (a torn write after power loss),
//! restarts it and checks that it comes up, serves a prefix of the stream
//! it had, no made-up item, and takes writes that survive a restart.
//!
//! At the end the server is stopped and `brook verify` must find nothing
//! wrong in the directory.
//!
//! `BROOK_CRASH_CYCLES` (default 10) and `BROOK_TORN_ROUNDS` (default 6);
//! `BROOK_CRASH_SEED` replays the kill delays and cuts of a printed seed.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::Rng;
use common::server::Server;
use redis::{Connection, RedisError, Value, cmd};

const FLAGS: &[&str] = &["--appendfsync", "always"];
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const KILL_MIN_MS: u64 = 150;
const KILL_SPREAD_MS: u64 = 350;

/// A stream ID as a comparable pair.
type Id = (u64, u64);

fn parse_id(s: &str) -> Option<Id> {
    let (a, b) = s.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn fmt_id(id: Id) -> String {
    format!("{}-{}", id.0, id.1)
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// `[[id, [f, v, ...]], ...]` into (id, value of field `v`).
fn entries(v: &Value) -> Vec<(Id, String)> {
    let Value::Array(items) = v else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|e| {
            let Value::Array(pair) = e else { return None };
            let id = parse_id(&text(pair.first()?))?;
            let item = match pair.get(1)? {
                Value::Array(f) => f.get(1).map(text).unwrap_or_default(),
                _ => String::new(),
            };
            Some((id, item))
        })
        .collect()
}

/// Everything the clients learned, across all cycles.
#[derive(Default)]
struct Ledger {
    /// Acknowledged XADDs: ID → item.
    added: BTreeMap<Id, String>,
    /// Items whose XADD reply never came.
    add_in_flight: HashSet<String>,
    /// IDs `>` handed out, and to whom.
    delivered: HashMap<Id, String>,
    /// Reads whose reply the kill cut off.
    reads_in_flight: usize,
    /// IDs an XACK was sent for (answered or not).
    ack_sent: HashSet<Id>,
    /// IDs whose XACK answered.
    acked: HashSet<Id>,
    /// IDs an answered XCLAIM gave the claimer.
    claimed: HashSet<Id>,
    /// IDs of an XCLAIM whose reply never came.
    claim_in_flight: HashSet<Id>,
    pushed: HashSet<String>,
    push_in_flight: HashSet<String>,
    moved: HashSet<String>,
    /// Failures seen while the server was up.
    anomalies: Vec<String>,
    /// Operations acknowledged, of every kind.
    ops: u64,
}

type Shared = Arc<Mutex<Ledger>>;

/// Whether an error is the expected end of a cycle (the server was killed).
fn expected(err: &RedisError, kill: &AtomicBool) -> bool {
    kill.load(Ordering::SeqCst) && (err.is_io_error() || err.is_connection_dropped())
}

fn stop(l: &Shared, who: &str, err: &RedisError, kill: &AtomicBool) {
    if !expected(err, kill) {
        l.lock()
            .unwrap()
            .anomalies
            .push(format!("{who}: {err} while the server was up"));
    }
}

fn producer(mut c: Connection, tag: String, l: Shared, kill: Arc<AtomicBool>) {
    for n in 0u64.. {
        if kill.load(Ordering::SeqCst) {
            return;
        }
        let item = format!("{tag}-{n}");
        let r: Result<String, _> = cmd("XADD")
            .arg("events")
            .arg("*")
            .arg("v")
            .arg(&item)
            .query(&mut c);
        let mut g = l.lock().unwrap();
        match r.map(|id| parse_id(&id)) {
            Ok(Some(id)) => {
                g.ops += 1;
                if let Some(old) = g.added.insert(id, item.clone()) {
                    g.anomalies
                        .push(format!("XADD gave {} twice ({old}, {item})", fmt_id(id)));
                }
            }
            Ok(None) => g.anomalies.push(format!("XADD {item}: not an ID")),
            Err(e) => {
                g.add_in_flight.insert(item);
                drop(g);
                return stop(&l, "producer", &e, &kill);
            }
        }
    }
}

fn ack(c: &mut Connection, id: Id, l: &Shared) -> Result<(), RedisError> {
    l.lock().unwrap().ack_sent.insert(id);
    let n: i64 = cmd("XACK")
        .arg("events")
        .arg("g")
        .arg(fmt_id(id))
        .query(c)?;
    let mut g = l.lock().unwrap();
    g.ops += 1;
    if n == 1 {
        g.acked.insert(id);
    }
    Ok(())
}

fn consumer(mut c: Connection, name: String, l: Shared, kill: Arc<AtomicBool>) {
    while !kill.load(Ordering::SeqCst) {
        let r: Result<Value, _> = cmd("XREADGROUP")
            .arg("GROUP")
            .arg("g")
            .arg(&name)
            .arg("COUNT")
            .arg(5)
            .arg("BLOCK")
            .arg(100)
            .arg("STREAMS")
            .arg("events")
            .arg(">")
            .query(&mut c);
        let got = match r {
            Ok(Value::Array(keys)) => match keys.first() {
                Some(Value::Array(kv)) => kv.get(1).map(entries).unwrap_or_default(),
                _ => Vec::new(),
            },
            Ok(_) => Vec::new(),
            Err(e) => {
                l.lock().unwrap().reads_in_flight += 1;
                return stop(&l, "consumer", &e, &kill);
            }
        };
        {
            let mut g = l.lock().unwrap();
            g.ops += 1;
            for (id, _) in &got {
                if let Some(first) = g.delivered.insert(*id, name.clone()) {
                    g.anomalies.push(format!(
                        "> handed out {} twice ({first}, {name})",
                        fmt_id(*id)
                    ));
                }
            }
        }
        for (id, item) in got {
            let even = item
                .rsplit('-')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n % 2 == 0);
            if even && let Err(e) = ack(&mut c, id, &l) {
                return stop(&l, "consumer XACK", &e, &kill);
            }
        }
    }
}

fn claimer(mut c: Connection, l: Shared, kill: Arc<AtomicBool>) {
    let mut flip = false;
    while !kill.load(Ordering::SeqCst) {
        let r: Result<Value, _> = cmd("XPENDING")
            .arg("events")
            .arg("g")
            .arg("IDLE")
            .arg(50)
            .arg("-")
            .arg("+")
            .arg(5)
            .query(&mut c);
        let ids: Vec<Id> = match r {
            Ok(Value::Array(rows)) => rows
                .iter()
                .filter_map(|row| match row {
                    Value::Array(f) => f.first().and_then(|v| parse_id(&text(v))),
                    _ => None,
                })
                .collect(),
            Ok(_) => Vec::new(),
            Err(e) => return stop(&l, "claimer XPENDING", &e, &kill),
        };
        if ids.is_empty() {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        l.lock()
            .unwrap()
            .claim_in_flight
            .extend(ids.iter().copied());
        let mut q = cmd("XCLAIM");
        q.arg("events").arg("g").arg("claimer").arg(50);
        for id in &ids {
            q.arg(fmt_id(*id));
        }
        let got = match q.query::<Value>(&mut c) {
            Ok(v) => entries(&v),
            Err(e) => return stop(&l, "claimer XCLAIM", &e, &kill),
        };
        {
            let mut g = l.lock().unwrap();
            g.ops += 1;
            for id in &ids {
                g.claim_in_flight.remove(id);
            }
            g.claimed.extend(got.iter().map(|(id, _)| *id));
        }
        for (id, _) in got {
            flip = !flip;
            if flip && let Err(e) = ack(&mut c, id, &l) {
                return stop(&l, "claimer XACK", &e, &kill);
            }
        }
    }
}

fn lpusher(mut c: Connection, tag: String, l: Shared, kill: Arc<AtomicBool>) {
    for n in 0u64.. {
        if kill.load(Ordering::SeqCst) {
            return;
        }
        let item = format!("{tag}-{n}");
        let r: Result<i64, _> = cmd("LPUSH").arg("jobs").arg(&item).query(&mut c);
        let mut g = l.lock().unwrap();
        match r {
            Ok(_) => {
                g.ops += 1;
                g.pushed.insert(item);
            }
            Err(e) => {
                g.push_in_flight.insert(item);
                drop(g);
                return stop(&l, "LPUSH", &e, &kill);
            }
        }
    }
}

fn mover(mut c: Connection, l: Shared, kill: Arc<AtomicBool>) {
    while !kill.load(Ordering::SeqCst) {
        let r: Result<Option<String>, _> = cmd("BLMOVE")
            .arg("jobs")
            .arg("processing")
            .arg("RIGHT")
            .arg("LEFT")
            .arg("0.1")
            .query(&mut c);
        match r {
            Ok(Some(item)) => {
                let mut g = l.lock().unwrap();
                g.ops += 1;
                if !g.moved.insert(item.clone()) {
                    g.anomalies.push(format!("BLMOVE handed out {item} twice"));
                }
            }
            Ok(None) => {}
            Err(e) => return stop(&l, "BLMOVE", &e, &kill),
        }
    }
}

fn connect(s: &Server) -> Connection {
    let c = s.conn();
    c.set_read_timeout(Some(READ_TIMEOUT)).unwrap();
    c
}

/// Runs the clients until a SIGKILL after `ms`.
fn cycle(server: Server, n: usize, ms: u64, l: &Shared) {
    let kill = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let ops_before = l.lock().unwrap().ops;
    macro_rules! spawn {
        ($f:expr) => {{
            let (c, l, k) = (connect(&server), l.clone(), kill.clone());
            threads.push(std::thread::spawn(move || $f(c, l, k)));
        }};
    }
    for p in 0..2 {
        let tag = format!("x{n}.{p}");
        spawn!(|c, l, k| producer(c, tag, l, k));
    }
    for i in 0..2 {
        let name = format!("c{i}");
        spawn!(|c, l, k| consumer(c, name, l, k));
    }
    spawn!(claimer);
    let tag = format!("j{n}");
    spawn!(|c, l, k| lpusher(c, tag, l, k));
    spawn!(mover);
    std::thread::sleep(Duration::from_millis(ms));
    let deadline = Instant::now() + Duration::from_secs(5);
    while l.lock().unwrap().ops < ops_before + 20 {
        assert!(
            Instant::now() < deadline,
            "cycle {n}: the clients made no progress"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    kill.store(true, Ordering::SeqCst);
    server.kill9();
    for t in threads {
        t.join().expect("a client thread panicked");
    }
}

fn range(c: &mut Connection) -> Vec<(Id, String)> {
    let v: Value = cmd("XRANGE")
        .arg("events")
        .arg("-")
        .arg("+")
        .query(c)
        .unwrap();
    entries(&v)
}

fn list(c: &mut Connection, key: &str) -> Vec<String> {
    cmd("LRANGE").arg(key).arg(0).arg(-1).query(c).unwrap()
}

/// The PEL: ID → owner.
fn pel(c: &mut Connection) -> BTreeMap<Id, String> {
    let v: Value = cmd("XPENDING")
        .arg("events")
        .arg("g")
        .arg("-")
        .arg("+")
        .arg(1_000_000)
        .query(c)
        .unwrap();
    let Value::Array(rows) = v else {
        return BTreeMap::new();
    };
    rows.iter()
        .filter_map(|r| match r {
            Value::Array(f) => Some((parse_id(&text(f.first()?))?, text(f.get(1)?))),
            _ => None,
        })
        .collect()
}

fn check(c: &mut Connection, l: &Ledger) -> Vec<String> {
    let mut bad = l.anomalies.clone();
    let got = range(c);
    for w in got.windows(2) {
        if w[0].0 >= w[1].0 {
            bad.push(format!("IDs out of order: {:?} then {:?}", w[0].0, w[1].0));
        }
    }
    let by_id: BTreeMap<Id, &String> = got.iter().map(|(i, v)| (*i, v)).collect();
    let mut items = HashSet::new();
    for (id, item) in &got {
        if !items.insert(item) {
            bad.push(format!("item {item} twice in the stream"));
        }
        match l.added.get(id) {
            Some(want) if want != item => {
                bad.push(format!("{} holds {item}, XADD gave it {want}", fmt_id(*id)))
            }
            None if !l.add_in_flight.contains(item) => bad.push(format!(
                "{} holds {item}, never sent (phantom)",
                fmt_id(*id)
            )),
            _ => {}
        }
    }
    let lost: Vec<_> = l
        .added
        .keys()
        .filter(|id| !by_id.contains_key(id))
        .collect();
    if !lost.is_empty() {
        bad.push(format!(
            "LOST {} acknowledged XADDs, first {:?}",
            lost.len(),
            lost[0]
        ));
    }
    let pending = pel(c);
    let mut unexplained = 0;
    for (id, owner) in &pending {
        if l.acked.contains(id) {
            bad.push(format!(
                "{} acked, yet pending again ({owner})",
                fmt_id(*id)
            ));
        }
        if !by_id.contains_key(id) {
            bad.push(format!("{} pending, not in the stream", fmt_id(*id)));
        }
        if !l.delivered.contains_key(id) {
            unexplained += 1;
        }
    }
    if unexplained > l.reads_in_flight * 5 {
        bad.push(format!(
            "{unexplained} pending IDs never delivered, more than {} cut-off reads explain",
            l.reads_in_flight
        ));
    }
    for (id, to) in &l.delivered {
        if l.ack_sent.contains(id) {
            continue;
        }
        let want = if l.claim_in_flight.contains(id) {
            None
        } else if l.claimed.contains(id) {
            Some("claimer")
        } else {
            Some(to.as_str())
        };
        match (pending.get(id), want) {
            (None, _) => bad.push(format!(
                "{} delivered, never acked, not pending",
                fmt_id(*id)
            )),
            (Some(o), Some(w)) if o != w => {
                bad.push(format!("{} pending with {o}, should be {w}", fmt_id(*id)))
            }
            _ => {}
        }
    }
    let jobs = list(c, "jobs");
    let processing = list(c, "processing");
    let in_jobs: HashSet<&String> = jobs.iter().collect();
    let mut seen = HashSet::new();
    for item in jobs.iter().chain(&processing) {
        if !seen.insert(item) {
            bad.push(format!("list item {item} twice"));
        }
        if !l.pushed.contains(item) && !l.push_in_flight.contains(item) {
            bad.push(format!("list item {item} never pushed (phantom)"));
        }
    }
    let lost = l.pushed.iter().filter(|i| !seen.contains(i)).count();
    if lost > 0 {
        bad.push(format!("LOST {lost} acknowledged LPUSHes"));
    }
    for item in &l.moved {
        if in_jobs.contains(item) || !processing.contains(item) {
            bad.push(format!("moved {item} is not (only) in processing"));
        }
    }
    bad
}

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    env_or("BROOK_CRASH_SEED", t).max(1)
}

fn setup(server: &Server) {
    let mut c = server.conn();
    let _: () = cmd("XGROUP")
        .arg("CREATE")
        .arg("events")
        .arg("g")
        .arg("$")
        .arg("MKSTREAM")
        .query(&mut c)
        .unwrap();
}

#[test]
fn acknowledged_writes_survive_random_kills() {
    let cycles: usize = env_or("BROOK_CRASH_CYCLES", 10);
    let seed = seed();
    eprintln!("crash harness: seed {seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let l: Shared = Arc::default();
    let started = Instant::now();
    let mut server = Server::start(tmp.path(), FLAGS);
    setup(&server);
    for n in 0..cycles {
        cycle(server, n, KILL_MIN_MS + rng.next() % KILL_SPREAD_MS, &l);
        server = Server::start(tmp.path(), FLAGS);
        let bad = check(&mut server.conn(), &l.lock().unwrap());
        assert!(
            bad.is_empty(),
            "cycle {n} (seed {seed}):\n{}",
            bad.join("\n")
        );
    }
    // The directory the kills left, once recovered and stopped cleanly,
    // passes `brook verify`.
    assert!(server.terminate().success());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_brook"))
        .arg("verify")
        .arg(tmp.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.contains(" 0 problems"),
        "{report}"
    );
    let g = l.lock().unwrap();
    eprintln!(
        "crash harness: {cycles} kill cycles in {:.1?}; {} operations acknowledged: {} XADDs, \
         {} delivered by >, {} XACKs answered 1, {} claimed, {} LPUSHes, {} BLMOVEs; in flight \
         at a kill: {} XADDs, {} reads, {} LPUSHes; lost 0, phantom 0, duplicates 0",
        started.elapsed(),
        g.ops,
        g.added.len(),
        g.delivered.len(),
        g.acked.len(),
        g.claimed.len(),
        g.pushed.len(),
        g.moved.len(),
        g.add_in_flight.len(),
        g.reads_in_flight,
        g.push_in_flight.len(),
    );
    assert!(g.added.len() > cycles && !g.acked.is_empty() && !g.claimed.is_empty());
}

/// Files under `dir`, newest first.
fn newest_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "seg" || x == "idx") {
                let t = e.metadata().unwrap().modified().unwrap();
                out.push((t, p));
            }
        }
    }
    out.sort();
    out.into_iter().rev().map(|(_, p)| p).collect()
}

#[test]
fn torn_files_still_serve() {
    let rounds: usize = env_or("BROOK_TORN_ROUNDS", 6);
    let seed = seed();
    eprintln!("torn files: seed {seed}");
    let mut rng = Rng(seed);
    let tmp = tempfile::tempdir().unwrap();
    let l: Shared = Arc::default();
    let mut server = Server::start(tmp.path(), FLAGS);
    setup(&server);
    let (mut cut_bytes, mut entries_lost) = (0u64, 0usize);
    for n in 0..rounds {
        cycle(server, n, KILL_MIN_MS + rng.next() % KILL_SPREAD_MS, &l);
        // What was there, as the harness saw it: restart once, read.
        server = Server::start(tmp.path(), FLAGS);
        let before = range(&mut server.conn());
        server.kill9();
        for f in newest_files(tmp.path()).into_iter().take(2) {
            let len = std::fs::metadata(&f).unwrap().len();
            if len == 0 {
                continue;
            }
            let at = rng.next() % len;
            cut_bytes += len - at;
            let file = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
            file.set_len(at).unwrap();
        }
        server = Server::start(tmp.path(), FLAGS);
        let mut c = server.conn();
        let after = range(&mut c);
        assert!(
            after.len() <= before.len() && before[..after.len()] == after[..],
            "round {n} (seed {seed}): the stream after the cut is not a prefix of the one before"
        );
        entries_lost += before.len() - after.len();
        // The group may be gone with its records; make sure it exists.
        let _: Result<(), _> = cmd("XGROUP")
            .arg("CREATE")
            .arg("events")
            .arg("g")
            .arg("$")
            .arg("MKSTREAM")
            .query(&mut c);
        let _ = pel(&mut c);
        let _ = list(&mut c, "jobs");
        let id: String = cmd("XADD")
            .arg("events")
            .arg("*")
            .arg("v")
            .arg(format!("after-cut-{n}"))
            .query(&mut c)
            .unwrap();
        server.kill9();
        server = Server::start(tmp.path(), FLAGS);
        let again = range(&mut server.conn());
        assert!(
            again
                .iter()
                .any(|(i, v)| fmt_id(*i) == id && *v == format!("after-cut-{n}")),
            "round {n}: a write after the cut did not survive a restart"
        );
        // From here on the ledger's history no longer holds for what was cut.
        *l.lock().unwrap() = Ledger::default();
    }
    eprintln!(
        "torn files: {rounds} rounds, {cut_bytes} bytes cut, {entries_lost} entries lost with \
         them, server up and serving a prefix after every cut"
    );
}
