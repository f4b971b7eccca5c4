//! Strings and lists against the real server: replies and errors as Redis
//! gives them, types shared with streams, and a kill -9 restart that keeps
//! every acknowledged change (the journal, under `always`).

mod common;

use common::server::{Server, err_text};
use redis::{Value, cmd};

fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> T {
    let mut k = cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    k.query(c).unwrap()
}

fn e(c: &mut redis::Connection, args: &[&str]) -> String {
    let mut k = cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    err_text(k.query(c))
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn string_commands() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(q::<String>(&mut c, &["SET", "k", "v"]), "OK");
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    assert_eq!(q::<Option<String>>(&mut c, &["SET", "k", "x", "NX"]), None);
    assert_eq!(
        q::<Option<String>>(&mut c, &["SET", "k", "w", "XX", "GET"]),
        Some("v".into())
    );
    assert_eq!(
        q::<Option<String>>(&mut c, &["SET", "new", "1", "XX"]),
        None
    );
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "new"]), None);
    assert_eq!(
        e(&mut c, &["SET", "k", "v", "NX", "XX"]),
        "ERR syntax error"
    );
    assert_eq!(
        e(&mut c, &["SET", "k", "v", "EX", "0"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        e(&mut c, &["SET", "k", "v", "EX", "x"]),
        "ERR value is not an integer or out of range"
    );
    // Expiry times: EX, KEEPTTL, and a plain SET clears it.
    q::<String>(&mut c, &["SET", "t", "1", "EX", "100"]);
    assert!((99..=100).contains(&q::<i64>(&mut c, &["TTL", "t"])));
    q::<String>(&mut c, &["SET", "t", "2", "KEEPTTL"]);
    assert!(q::<i64>(&mut c, &["TTL", "t"]) > 0);
    q::<String>(&mut c, &["SET", "t", "3"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "t"]), -1);
    q::<String>(&mut c, &["SET", "gone", "1", "PXAT", "1"]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "gone"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SETNX", "k", "z"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SETNX", "nx", "z"]), 1);
    q::<String>(&mut c, &["SETEX", "se", "50", "v"]);
    assert!(q::<i64>(&mut c, &["PTTL", "se"]) > 49_000);
    assert_eq!(
        e(&mut c, &["SETEX", "se", "-1", "v"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(q::<String>(&mut c, &["GETSET", "se", "w"]), "v");
    assert_eq!(q::<i64>(&mut c, &["TTL", "se"]), -1);
    assert_eq!(q::<String>(&mut c, &["GETEX", "se", "EX", "30"]), "w");
    assert!(q::<i64>(&mut c, &["TTL", "se"]) > 0);
    assert_eq!(q::<String>(&mut c, &["GETEX", "se", "PERSIST"]), "w");
    assert_eq!(q::<i64>(&mut c, &["TTL", "se"]), -1);
    assert_eq!(q::<String>(&mut c, &["GETDEL", "se"]), "w");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "se"]), 0);
    // Counters.
    assert_eq!(q::<i64>(&mut c, &["INCR", "n"]), 1);
    assert_eq!(q::<i64>(&mut c, &["INCRBY", "n", "41"]), 42);
    assert_eq!(q::<i64>(&mut c, &["DECR", "n"]), 41);
    assert_eq!(q::<i64>(&mut c, &["DECRBY", "n", "1"]), 40);
    assert_eq!(
        e(&mut c, &["INCR", "k"]),
        "ERR value is not an integer or out of range"
    );
    q::<String>(&mut c, &["SET", "big", "9223372036854775807"]);
    assert_eq!(
        e(&mut c, &["INCR", "big"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "f", "10.5"]), "10.5");
    assert_eq!(q::<String>(&mut c, &["INCRBYFLOAT", "f", "0.1"]), "10.6");
    assert_eq!(
        e(&mut c, &["INCRBYFLOAT", "f", "x"]),
        "ERR value is not a valid float"
    );
    // Bytes.
    assert_eq!(q::<i64>(&mut c, &["APPEND", "s", "Hello"]), 5);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "s", " World"]), 11);
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "s"]), 11);
    assert_eq!(q::<String>(&mut c, &["GETRANGE", "s", "0", "4"]), "Hello");
    assert_eq!(q::<String>(&mut c, &["GETRANGE", "s", "-5", "-1"]), "World");
    assert_eq!(q::<String>(&mut c, &["GETRANGE", "s", "5", "1"]), "");
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "s", "6", "Redis"]), 11);
    assert_eq!(q::<String>(&mut c, &["GET", "s"]), "Hello Redis");
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "pad", "3", "x"]), 4);
    assert_eq!(q::<Vec<u8>>(&mut c, &["GET", "pad"]), b"\0\0\0x");
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "none", "3", ""]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "none"]), 0);
    assert_eq!(
        e(&mut c, &["SETRANGE", "s", "-1", "x"]),
        "ERR offset is out of range"
    );
    // MSET / MGET / MSETNX.
    assert_eq!(q::<String>(&mut c, &["MSET", "a", "1", "b", "2"]), "OK");
    assert_eq!(
        e(&mut c, &["MSET", "a", "1", "b"]),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(q::<i64>(&mut c, &["MSETNX", "a", "9", "c", "3"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "c"]), 0);
    assert_eq!(q::<i64>(&mut c, &["MSETNX", "c", "3", "d", "4"]), 1);
    q::<i64>(&mut c, &["RPUSH", "l", "x"]);
    assert_eq!(
        q::<Vec<Option<String>>>(&mut c, &["MGET", "a", "b", "missing", "l"]),
        vec![Some("1".into()), Some("2".into()), None, None]
    );
    // Types: a string's commands on a list, and SET over a stream.
    assert_eq!(e(&mut c, &["GET", "l"]), WRONGTYPE);
    assert_eq!(e(&mut c, &["APPEND", "l", "x"]), WRONGTYPE);
    assert_eq!(e(&mut c, &["SET", "l", "x", "GET"]), WRONGTYPE);
    assert_eq!(q::<String>(&mut c, &["TYPE", "a"]), "string");
    q::<String>(&mut c, &["XADD", "st", "*", "f", "v"]);
    assert_eq!(e(&mut c, &["GET", "st"]), WRONGTYPE);
    assert_eq!(q::<String>(&mut c, &["SET", "st", "now a string"]), "OK");
    assert_eq!(q::<String>(&mut c, &["TYPE", "st"]), "string");
    assert_eq!(e(&mut c, &["XLEN", "st"]), WRONGTYPE);
    let scanned: (String, Vec<String>) = q(&mut c, &["SCAN", "0", "TYPE", "list", "COUNT", "1000"]);
    assert_eq!(scanned.1, vec!["l".to_string()]);
}

#[test]
fn list_commands() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(q::<i64>(&mut c, &["RPUSH", "q", "a", "b", "c"]), 3);
    assert_eq!(q::<i64>(&mut c, &["LPUSH", "q", "y", "z"]), 5);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "q", "0", "-1"]),
        ["z", "y", "a", "b", "c"]
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "q", "-2", "100"]),
        ["b", "c"]
    );
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "nope", "0", "-1"]),
        Vec::<String>::new()
    );
    assert_eq!(q::<i64>(&mut c, &["LLEN", "q"]), 5);
    assert_eq!(q::<String>(&mut c, &["LINDEX", "q", "-1"]), "c");
    assert_eq!(q::<Option<String>>(&mut c, &["LINDEX", "q", "9"]), None);
    assert_eq!(q::<i64>(&mut c, &["LPUSHX", "nope", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "nope"]), 0);
    assert_eq!(q::<i64>(&mut c, &["RPUSHX", "q", "d"]), 6);
    assert_eq!(q::<String>(&mut c, &["LPOP", "q"]), "z");
    assert_eq!(q::<Vec<String>>(&mut c, &["RPOP", "q", "2"]), ["d", "c"]);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LPOP", "q", "0"]),
        Vec::<String>::new()
    );
    assert_eq!(q::<Value>(&mut c, &["LPOP", "nope"]), Value::Nil);
    assert_eq!(q::<Value>(&mut c, &["LPOP", "nope", "2"]), Value::Nil);
    assert_eq!(
        e(&mut c, &["LPOP", "q", "-1"]),
        "ERR value is out of range, must be positive"
    );
    // The reliable-queue move; an emptied list is deleted.
    assert_eq!(
        q::<String>(&mut c, &["LMOVE", "q", "work", "LEFT", "RIGHT"]),
        "y"
    );
    assert_eq!(q::<String>(&mut c, &["RPOPLPUSH", "q", "work"]), "b");
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "work", "0", "-1"]),
        ["b", "y"]
    );
    assert_eq!(q::<String>(&mut c, &["RPOPLPUSH", "q", "q"]), "a");
    assert_eq!(
        q::<String>(&mut c, &["LMOVE", "q", "work", "LEFT", "LEFT"]),
        "a"
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "q"]), 0);
    assert_eq!(
        q::<Option<String>>(&mut c, &["LMOVE", "q", "work", "LEFT", "LEFT"]),
        None
    );
    assert_eq!(
        e(&mut c, &["LMOVE", "q", "work", "UP", "LEFT"]),
        "ERR syntax error"
    );
    q::<String>(&mut c, &["SET", "str", "v"]);
    assert_eq!(e(&mut c, &["LPUSH", "str", "a"]), WRONGTYPE);
    assert_eq!(
        e(&mut c, &["LMOVE", "work", "str", "LEFT", "LEFT"]),
        WRONGTYPE
    );
    assert_eq!(q::<i64>(&mut c, &["LLEN", "work"]), 3);
    assert_eq!(q::<String>(&mut c, &["TYPE", "work"]), "list");
    // Keyspace commands cover lists.
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "work", "100"]), 1);
    assert_eq!(q::<String>(&mut c, &["RENAME", "work", "done"]), "OK");
    assert!(q::<i64>(&mut c, &["TTL", "done"]) > 0);
    assert_eq!(q::<i64>(&mut c, &["COPY", "done", "copy"]), 1);
    assert_eq!(q::<i64>(&mut c, &["MOVE", "copy", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["DEL", "done"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "done"]), 0);
    q::<String>(&mut c, &["SELECT", "1"]);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "copy", "0", "-1"]),
        ["a", "b", "y"]
    );
}

#[test]
fn a_kill_9_keeps_every_acknowledged_change() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["--appendfsync", "always"]);
    let mut c = s.conn();
    for i in 0..200 {
        q::<i64>(&mut c, &["RPUSH", "jobs", &i.to_string()]);
    }
    for _ in 0..50 {
        q::<String>(&mut c, &["LMOVE", "jobs", "processing", "LEFT", "RIGHT"]);
    }
    q::<i64>(&mut c, &["INCRBY", "counter", "7"]);
    q::<String>(&mut c, &["SET", "lock", "token", "PX", "600000"]);
    q::<String>(&mut c, &["MSET", "a", "1", "b", "2"]);
    q::<i64>(&mut c, &["DEL", "a"]);
    q::<String>(&mut c, &["SWAPDB", "0", "3"]);
    s.kill9();
    let s = Server::start(dir.path(), &["--appendfsync", "always"]);
    let mut c = s.conn();
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    q::<String>(&mut c, &["SELECT", "3"]);
    let jobs: Vec<String> = q(&mut c, &["LRANGE", "jobs", "0", "-1"]);
    let want: Vec<String> = (50..200).map(|i| i.to_string()).collect();
    assert_eq!(jobs, want);
    let processing: Vec<String> = q(&mut c, &["LRANGE", "processing", "0", "-1"]);
    let want: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    assert_eq!(processing, want);
    assert_eq!(q::<i64>(&mut c, &["GET", "counter"]), 7);
    assert!(q::<i64>(&mut c, &["PTTL", "lock"]) > 500_000);
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "a"]), None);
    assert_eq!(q::<String>(&mut c, &["GET", "b"]), "2");
    assert!(
        s.log_text().contains("5 lists and strings"),
        "{}",
        s.log_text()
    );
}

/// The background expiry pass removes keys nobody reads, in every
/// database, a bounded slice of the keyspace at a time.
#[test]
fn expired_keys_go_without_being_read() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    for db in [0, 3] {
        let _: () = cmd("SELECT").arg(db).query(&mut c).unwrap();
        let mut p = redis::pipe();
        for i in 0..6000 {
            p.cmd("SET").arg(format!("keep{i}")).arg("v").ignore();
            if i < 1000 {
                p.cmd("SET")
                    .arg(format!("gone{i}"))
                    .arg("v")
                    .arg("PX")
                    .arg(1)
                    .ignore();
                p.cmd("RPUSH").arg(format!("list{i}")).arg("v").ignore();
                p.cmd("PEXPIRE").arg(format!("list{i}")).arg(1).ignore();
            }
        }
        let () = p.query(&mut c).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for db in [3, 0] {
        let _: () = cmd("SELECT").arg(db).query(&mut c).unwrap();
        loop {
            // DBSIZE reads no key, so only the background pass removes them.
            let n: i64 = cmd("DBSIZE").query(&mut c).unwrap();
            if n == 6000 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "db {db}: {n} keys");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}
