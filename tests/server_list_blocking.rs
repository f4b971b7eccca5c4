//! The rest of the list commands (LSET, LINSERT, LREM, LTRIM, LPOS, LMPOP)
//! and the blocking ones (BLPOP, BRPOP, BLMPOP, BLMOVE, BRPOPLPUSH)
//! against the real server: Redis's replies and errors, first blocked
//! first served, timeouts, MULTI, chains of BLMOVE, RESP3 nulls.

mod common;

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::server::{Server, err_text, talk};
use redis::{Value, cmd};

fn k(args: &[&str]) -> redis::Cmd {
    let mut k = cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    k
}

fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> T {
    k(args).query(c).unwrap()
}

fn e(c: &mut redis::Connection, args: &[&str]) -> String {
    err_text(k(args).query(c))
}

fn list(c: &mut redis::Connection, key: &str) -> Vec<String> {
    q(c, &["LRANGE", key, "0", "-1"])
}

/// Waits until `n` clients are blocked.
fn wait_blocked(c: &mut redis::Connection, n: usize) {
    for _ in 0..500 {
        let info: String = q(c, &["INFO", "clients"]);
        if info.contains(&format!("blocked_clients:{n}\r")) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("never {n} blocked clients");
}

/// Runs a command on a connection of its own in a thread.
fn spawn(s: &Server, args: &[&str]) -> JoinHandle<Value> {
    let mut c = s.conn();
    let cmd = k(args);
    std::thread::spawn(move || cmd.query(&mut c).unwrap())
}

fn bulk(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

#[test]
fn lset_linsert_lrem_ltrim_lpos_lmpop() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    q::<i64>(&mut c, &["RPUSH", "l", "a", "b", "c", "a", "b", "a"]);
    // LPOS.
    assert_eq!(q::<i64>(&mut c, &["LPOS", "l", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["LPOS", "l", "a", "RANK", "2"]), 3);
    assert_eq!(q::<i64>(&mut c, &["LPOS", "l", "a", "RANK", "-1"]), 5);
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["LPOS", "l", "a", "COUNT", "0"]),
        [0, 3, 5]
    );
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["LPOS", "l", "a", "RANK", "-1", "COUNT", "2"]),
        [5, 3]
    );
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["LPOS", "l", "a", "COUNT", "9", "MAXLEN", "4"]),
        [0, 3]
    );
    assert_eq!(
        q::<Option<i64>>(&mut c, &["LPOS", "l", "a", "RANK", "-2", "MAXLEN", "2"]),
        None
    );
    assert_eq!(q::<Option<i64>>(&mut c, &["LPOS", "l", "zz"]), None);
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["LPOS", "nokey", "a", "COUNT", "1"]),
        Vec::<i64>::new()
    );
    assert_eq!(
        e(&mut c, &["LPOS", "l", "a", "RANK", "0"]),
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
    );
    assert_eq!(
        e(&mut c, &["LPOS", "l", "a", "COUNT", "-1"]),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        e(&mut c, &["LPOS", "l", "a", "MAXLEN", "-1"]),
        "ERR MAXLEN can't be negative"
    );
    assert_eq!(
        e(&mut c, &["LPOS", "l", "a", "FOO", "1"]),
        "ERR syntax error"
    );
    // LSET.
    assert_eq!(q::<String>(&mut c, &["LSET", "l", "-1", "z"]), "OK");
    assert_eq!(q::<String>(&mut c, &["LSET", "l", "1", "B"]), "OK");
    assert_eq!(list(&mut c, "l"), ["a", "B", "c", "a", "b", "z"]);
    assert_eq!(e(&mut c, &["LSET", "nokey", "0", "x"]), "ERR no such key");
    assert_eq!(
        e(&mut c, &["LSET", "l", "6", "x"]),
        "ERR index out of range"
    );
    assert_eq!(
        e(&mut c, &["LSET", "l", "-7", "x"]),
        "ERR index out of range"
    );
    // LINSERT.
    assert_eq!(q::<i64>(&mut c, &["LINSERT", "l", "BEFORE", "c", "X"]), 7);
    assert_eq!(q::<i64>(&mut c, &["LINSERT", "l", "after", "z", "Y"]), 8);
    assert_eq!(q::<i64>(&mut c, &["LINSERT", "l", "BEFORE", "zz", "Y"]), -1);
    assert_eq!(
        q::<i64>(&mut c, &["LINSERT", "nokey", "BEFORE", "zz", "Y"]),
        0
    );
    assert_eq!(
        e(&mut c, &["LINSERT", "l", "MIDDLE", "a", "b"]),
        "ERR syntax error"
    );
    assert_eq!(list(&mut c, "l"), ["a", "B", "X", "c", "a", "b", "z", "Y"]);
    // LREM from the head, the tail, everywhere.
    q::<i64>(&mut c, &["RPUSH", "l", "a", "a"]);
    assert_eq!(q::<i64>(&mut c, &["LREM", "l", "-2", "a"]), 2);
    assert_eq!(q::<i64>(&mut c, &["LREM", "l", "1", "a"]), 1);
    assert_eq!(list(&mut c, "l"), ["B", "X", "c", "a", "b", "z", "Y"]);
    assert_eq!(q::<i64>(&mut c, &["LREM", "l", "0", "zz"]), 0);
    assert_eq!(
        e(&mut c, &["LREM", "l", "x", "a"]),
        "ERR value is not an integer or out of range"
    );
    // LTRIM; an emptied list is gone.
    assert_eq!(q::<String>(&mut c, &["LTRIM", "l", "1", "-2"]), "OK");
    assert_eq!(list(&mut c, "l"), ["X", "c", "a", "b", "z"]);
    assert_eq!(q::<String>(&mut c, &["LTRIM", "nokey", "0", "1"]), "OK");
    // LMPOP.
    assert_eq!(
        q::<(String, Vec<String>)>(&mut c, &["LMPOP", "2", "nokey", "l", "RIGHT", "COUNT", "2"]),
        ("l".into(), vec!["z".into(), "b".into()])
    );
    assert_eq!(
        q::<(String, Vec<String>)>(&mut c, &["LMPOP", "1", "l", "LEFT"]),
        ("l".into(), vec!["X".into()])
    );
    assert_eq!(
        q::<Value>(&mut c, &["LMPOP", "1", "nokey", "LEFT"]),
        Value::Nil
    );
    assert_eq!(
        e(&mut c, &["LMPOP", "0", "l", "LEFT"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        e(&mut c, &["LMPOP", "x", "l", "LEFT"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(e(&mut c, &["LMPOP", "2", "l", "LEFT"]), "ERR syntax error");
    assert_eq!(e(&mut c, &["LMPOP", "1", "l", "UP"]), "ERR syntax error");
    assert_eq!(
        e(&mut c, &["LMPOP", "1", "l", "LEFT", "COUNT", "0"]),
        "ERR count should be greater than 0"
    );
    assert_eq!(
        e(
            &mut c,
            &["LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2"]
        ),
        "ERR syntax error"
    );
    assert_eq!(q::<String>(&mut c, &["LTRIM", "l", "5", "1"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "l"]), 0);
    // Every one of them on a string is WRONGTYPE.
    q::<String>(&mut c, &["SET", "s", "v"]);
    const WT: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    for args in [
        &["LSET", "s", "0", "a"][..],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["LMPOP", "2", "nokey", "s", "LEFT"],
        &["BLPOP", "s", "0"],
        &["BLMPOP", "0", "1", "s", "LEFT"],
        &["BLMOVE", "s", "d", "LEFT", "LEFT", "0"],
    ] {
        assert_eq!(e(&mut c, args), WT, "{args:?}");
    }
    // The changes are journaled: a restart gives the same lists.
    q::<i64>(&mut c, &["RPUSH", "r", "1", "2", "3", "4", "5"]);
    q::<String>(&mut c, &["LSET", "r", "0", "one"]);
    q::<i64>(&mut c, &["LINSERT", "r", "AFTER", "2", "2.5"]);
    q::<i64>(&mut c, &["LREM", "r", "0", "3"]);
    q::<String>(&mut c, &["LTRIM", "r", "0", "3"]);
    let before = list(&mut c, "r");
    assert_eq!(before, ["one", "2", "2.5", "4"]);
    drop(c);
    s.kill9();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(list(&mut c, "r"), before);
}

#[test]
fn blocking_pops_serve_the_first_blocked_first() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    // A timeout answers nil, after the timeout.
    let t = Instant::now();
    assert_eq!(q::<Value>(&mut c, &["BLPOP", "q", "0.2"]), Value::Nil);
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        q::<Value>(&mut c, &["BLMOVE", "q", "d", "LEFT", "LEFT", "0.1"]),
        Value::Nil
    );
    assert_eq!(
        q::<Value>(&mut c, &["BLMPOP", "0.1", "1", "q", "LEFT"]),
        Value::Nil
    );
    assert_eq!(e(&mut c, &["BLPOP", "q", "-1"]), "ERR timeout is negative");
    assert_eq!(
        e(&mut c, &["BLPOP", "q", "x"]),
        "ERR timeout is not a float or out of range"
    );
    // Something there: no blocking.
    q::<i64>(&mut c, &["RPUSH", "q", "x", "y"]);
    assert_eq!(
        q::<(String, String)>(&mut c, &["BRPOP", "nokey", "q", "0"]),
        ("q".into(), "y".into())
    );
    assert_eq!(
        q::<(String, String)>(&mut c, &["BLPOP", "q", "0"]),
        ("q".into(), "x".into())
    );

    // Three clients block on q in turn; one push of three items serves
    // them in the order they blocked.
    let mut waiters = Vec::new();
    for i in 0..3 {
        waiters.push(spawn(&s, &["BLPOP", "q", "0"]));
        wait_blocked(&mut c, i + 1);
    }
    q::<i64>(&mut c, &["RPUSH", "q", "a", "b", "c"]);
    let got: Vec<Value> = waiters.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        got,
        ["a", "b", "c"].map(|v| Value::Array(vec![bulk("q"), bulk(v)]))
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "q"]), 0);

    // A client blocked on two keys is served by a push to either.
    let h = spawn(&s, &["BRPOP", "k1", "k2", "0"]);
    wait_blocked(&mut c, 1);
    q::<i64>(&mut c, &["LPUSH", "k2", "v"]);
    assert_eq!(h.join().unwrap(), Value::Array(vec![bulk("k2"), bulk("v")]));

    // BLMPOP takes up to COUNT.
    let h = spawn(&s, &["BLMPOP", "0", "2", "m1", "m2", "RIGHT", "COUNT", "2"]);
    wait_blocked(&mut c, 1);
    q::<i64>(&mut c, &["RPUSH", "m2", "1", "2", "3"]);
    assert_eq!(
        h.join().unwrap(),
        Value::Array(vec![bulk("m2"), Value::Array(vec![bulk("3"), bulk("2")])])
    );
    assert_eq!(list(&mut c, "m2"), ["1"]);

    // A chain: BLMOVE src -> mid is served, and its push serves a BLPOP
    // on mid. RPOPLPUSH wakes its destination too.
    let mover = spawn(&s, &["BLMOVE", "src", "mid", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    let popper = spawn(&s, &["BLPOP", "mid", "0"]);
    wait_blocked(&mut c, 2);
    q::<i64>(&mut c, &["RPUSH", "src", "job"]);
    assert_eq!(mover.join().unwrap(), bulk("job"));
    assert_eq!(
        popper.join().unwrap(),
        Value::Array(vec![bulk("mid"), bulk("job")])
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "src", "mid"]), 0);
    let popper = spawn(&s, &["BRPOPLPUSH", "mid", "done", "0"]);
    wait_blocked(&mut c, 1);
    q::<i64>(&mut c, &["RPUSH", "src", "j2"]);
    q::<String>(&mut c, &["RPOPLPUSH", "src", "mid"]);
    assert_eq!(popper.join().unwrap(), bulk("j2"));
    assert_eq!(list(&mut c, "done"), ["j2"]);

    // Waiters are served after the whole EXEC: a push popped again inside
    // the transaction serves nobody.
    let h = spawn(&s, &["BLPOP", "t", "0"]);
    wait_blocked(&mut c, 1);
    let (n, popped): (i64, String) = redis::pipe()
        .atomic()
        .cmd("RPUSH")
        .arg("t")
        .arg("gone")
        .cmd("LPOP")
        .arg("t")
        .query(&mut c)
        .unwrap();
    assert_eq!((n, popped.as_str()), (1, "gone"));
    std::thread::sleep(Duration::from_millis(100));
    assert!(!h.is_finished());
    // Pushes to two keys in one EXEC serve the waiters of both.
    let h2 = spawn(&s, &["BLPOP", "t2", "0"]);
    wait_blocked(&mut c, 2);
    let _: Value = redis::pipe()
        .atomic()
        .cmd("RPUSH")
        .arg("t2")
        .arg("b")
        .cmd("RPUSH")
        .arg("t")
        .arg("a")
        .query(&mut c)
        .unwrap();
    assert_eq!(h.join().unwrap(), Value::Array(vec![bulk("t"), bulk("a")]));
    assert_eq!(
        h2.join().unwrap(),
        Value::Array(vec![bulk("t2"), bulk("b")])
    );
    // Inside MULTI a blocking pop answers at once.
    let r: Value = redis::pipe()
        .atomic()
        .cmd("BLPOP")
        .arg("t")
        .arg("0")
        .cmd("BLMOVE")
        .arg("t")
        .arg("u")
        .arg("LEFT")
        .arg("LEFT")
        .arg("0")
        .query(&mut c)
        .unwrap();
    assert_eq!(r, Value::Array(vec![Value::Nil, Value::Nil]));
}

#[test]
fn blocked_list_clients_unblock_disconnect_and_resp3() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    // CLIENT UNBLOCK: a timeout (nil) or the UNBLOCKED error.
    let mut w = s.conn();
    let id: i64 = q(&mut w, &["CLIENT", "ID"]);
    let h = std::thread::spawn(move || k(&["BLPOP", "u", "0"]).query::<Value>(&mut w));
    wait_blocked(&mut c, 1);
    assert_eq!(q::<i64>(&mut c, &["CLIENT", "UNBLOCK", &id.to_string()]), 1);
    assert_eq!(h.join().unwrap().unwrap(), Value::Nil);
    let mut w = s.conn();
    let id: i64 = q(&mut w, &["CLIENT", "ID"]);
    let h = std::thread::spawn(move || {
        err_text(k(&["BLMOVE", "u", "v", "LEFT", "LEFT", "0"]).query(&mut w))
    });
    wait_blocked(&mut c, 1);
    assert_eq!(
        q::<i64>(&mut c, &["CLIENT", "UNBLOCK", &id.to_string(), "ERROR"]),
        1
    );
    assert_eq!(
        h.join().unwrap(),
        "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    );

    // A client that goes away while blocked leaves the registry, and the
    // next push stays in the list for the next reader.
    let addr = s.addr;
    let gone = std::thread::spawn(move || talk(addr, b"BLPOP g 0\r\n"));
    wait_blocked(&mut c, 1);
    gone.join().unwrap();
    wait_blocked(&mut c, 0);
    q::<i64>(&mut c, &["RPUSH", "g", "kept"]);
    assert_eq!(list(&mut c, "g"), ["kept"]);

    // RESP3: a timeout is the null type; a served pop an array.
    let out = talk(
        s.addr,
        b"HELLO 3\r\nBLPOP r3 0.05\r\nBLMOVE r3 x LEFT LEFT 0.05\r\nRPUSH r3 a\r\nBLPOP r3 0\r\n",
    );
    assert!(
        out.ends_with("_\r\n_\r\n:1\r\n*2\r\n$2\r\nr3\r\n$1\r\na\r\n"),
        "{out}"
    );
    let out = talk(s.addr, b"BLPOP r3 0.05\r\nBLMOVE r3 x LEFT LEFT 0.05\r\n");
    assert_eq!(out, "*-1\r\n$-1\r\n");
}

/// A pipeline of pushes and pops runs as one batch (one journal record):
/// the replies are those of the commands one by one, blocked clients are
/// served after it, an expired key met in the middle keeps the journal in
/// order, and a kill -9 under `always` keeps it all.
#[test]
fn pipelined_pushes_and_pops_run_as_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--appendfsync", "always"];
    let s = Server::start(dir.path(), &flags);
    let mut c = s.conn();
    q::<i64>(&mut c, &["RPUSH", "e", "old1", "old2"]);
    q::<i64>(&mut c, &["PEXPIRE", "e", "30"]);
    let waiter = spawn(&s, &["BLPOP", "w", "0"]);
    wait_blocked(&mut c, 1);
    std::thread::sleep(Duration::from_millis(50));
    // A model of the lists, to check every reply.
    let mut model: std::collections::HashMap<&str, std::collections::VecDeque<String>> =
        Default::default();
    let mut p = redis::pipe();
    let mut expected = Vec::new();
    let mut rng = common::Rng(7);
    for i in 0..2000 {
        let key = ["a", "b", "e"][(rng.next() % 3) as usize];
        let l = model.entry(key).or_default();
        match rng.next() % 4 {
            0 => {
                p.cmd("LPUSH").arg(key).arg(i);
                l.push_front(i.to_string());
                expected.push(Value::Int(l.len() as i64));
            }
            1 => {
                p.cmd("RPUSH").arg(key).arg(i);
                l.push_back(i.to_string());
                expected.push(Value::Int(l.len() as i64));
            }
            2 => {
                p.cmd("LPOP").arg(key);
                expected.push(l.pop_front().map_or(Value::Nil, |v| bulk(&v)));
            }
            _ => {
                p.cmd("RPOP").arg(key);
                expected.push(l.pop_back().map_or(Value::Nil, |v| bulk(&v)));
            }
        }
    }
    p.cmd("RPUSH").arg("w").arg("for-the-waiter");
    expected.push(Value::Int(1));
    let got: Vec<Value> = p.query(&mut c).unwrap();
    assert_eq!(got, expected);
    assert_eq!(
        waiter.join().unwrap(),
        Value::Array(vec![bulk("w"), bulk("for-the-waiter")])
    );
    let lists = |c: &mut redis::Connection| -> Vec<Vec<String>> {
        ["a", "b", "e", "w"].iter().map(|k| list(c, k)).collect()
    };
    let before = lists(&mut c);
    for (i, k) in ["a", "b", "e"].iter().enumerate() {
        assert_eq!(before[i], Vec::from(model[k].clone()), "{k}");
    }
    assert!(before[3].is_empty());
    drop(c);
    s.kill9();
    let s = Server::start(dir.path(), &flags);
    let mut c = s.conn();
    assert_eq!(lists(&mut c), before);
}

/// The server's resident memory in kB.
fn rss_kb(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Items and keys kept in memory are copies: a slice of the request's
/// read buffer (64 kB) would pin all of it per item. 20,000 pushes of 100
/// bytes, each read on its own, would then hold over 1 GB.
#[test]
fn kept_items_do_not_pin_read_buffers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    let before = rss_kb(&s);
    let item = "i".repeat(100);
    for i in 0..20_000 {
        q::<i64>(&mut c, &["RPUSH", "l", &item]);
        if i % 10 == 0 {
            q::<String>(&mut c, &["SET", &format!("k{i}"), &item]);
        }
    }
    let grown = rss_kb(&s).saturating_sub(before);
    eprintln!("20000 items and 2000 strings: {grown} kB more resident");
    assert!(grown < 100_000, "{grown} kB for 2.2 MB of data");
}
