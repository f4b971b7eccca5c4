//! The stream commands against the real server: replies, blocking reads,
//! Brook's extensions, and a restart with every stream and group intact.

mod common;

use std::time::{Duration, Instant};

use common::server::{Server, err_text, raw};
use redis::{Value, cmd};

fn xadd(c: &mut redis::Connection, key: &str, id: &str, n: u64) -> String {
    cmd("XADD")
        .arg(key)
        .arg(id)
        .arg("n")
        .arg(n)
        .query(c)
        .unwrap()
}

/// `[[id, [f, v]]...]` as (id, n) pairs.
fn ids(v: &Value) -> Vec<String> {
    let Value::Array(rows) = v else {
        return Vec::new();
    };
    rows.iter()
        .filter_map(|r| match r {
            Value::Array(e) => match &e[0] {
                Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

#[test]
fn every_stream_command() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    for i in 1..=5 {
        xadd(&mut c, "s", &format!("{i}-0"), i);
    }
    assert_eq!(cmd("XLEN").arg("s").query::<i64>(&mut c).unwrap(), 5);
    assert_eq!(cmd("XLEN").arg("none").query::<i64>(&mut c).unwrap(), 0);
    let v: Value = cmd("XRANGE")
        .arg("s")
        .arg("2")
        .arg("+")
        .arg("COUNT")
        .arg(2)
        .query(&mut c)
        .unwrap();
    assert_eq!(ids(&v), ["2-0", "3-0"]);
    let v: Value = cmd("XREVRANGE")
        .arg("s")
        .arg("(4-0")
        .arg("-")
        .query(&mut c)
        .unwrap();
    assert_eq!(ids(&v), ["3-0", "2-0", "1-0"]);
    assert_eq!(
        err_text(
            cmd("XADD")
                .arg("s")
                .arg("0-0")
                .arg("f")
                .arg("v")
                .query(&mut c)
        ),
        "ERR The ID specified in XADD must be greater than 0-0"
    );
    assert_eq!(
        err_text(
            cmd("XADD")
                .arg("s")
                .arg("1-1")
                .arg("f")
                .arg("v")
                .query(&mut c)
        ),
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    );
    assert_eq!(
        err_text(cmd("XADD").arg("s").arg("*").arg("f").query(&mut c)),
        "ERR wrong number of arguments for 'xadd' command"
    );
    // A bad ID creates nothing.
    assert_eq!(
        err_text(
            cmd("XADD")
                .arg("fresh")
                .arg("0-0")
                .arg("f")
                .arg("v")
                .query(&mut c)
        ),
        "ERR The ID specified in XADD must be greater than 0-0"
    );
    assert_eq!(cmd("EXISTS").arg("fresh").query::<i64>(&mut c).unwrap(), 0);
    assert_eq!(
        cmd("XADD")
            .arg("fresh")
            .arg("NOMKSTREAM")
            .arg("*")
            .arg("f")
            .arg("v")
            .query::<Option<String>>(&mut c)
            .unwrap(),
        None
    );
    assert_eq!(
        cmd("XDEL")
            .arg("s")
            .arg("1-0")
            .arg("9-9")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert_eq!(
        cmd("XTRIM")
            .arg("s")
            .arg("MAXLEN")
            .arg(3)
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    let _: () = cmd("XSETID").arg("s").arg("10-0").query(&mut c).unwrap();
    let info: Value = cmd("XINFO").arg("STREAM").arg("s").query(&mut c).unwrap();
    let text = format!("{info:?}");
    assert!(
        text.contains("last-generated-id") && text.contains("10-0"),
        "{text}"
    );
    // Groups.
    let _: () = cmd("XGROUP")
        .arg("CREATE")
        .arg("s")
        .arg("g")
        .arg("0")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        err_text(
            cmd("XGROUP")
                .arg("CREATE")
                .arg("s")
                .arg("g")
                .arg("0")
                .query(&mut c)
        ),
        "BUSYGROUP Consumer Group name already exists"
    );
    let v: Value = cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("alice")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg("s")
        .arg(">")
        .query(&mut c)
        .unwrap();
    assert!(format!("{v:?}").contains("3-0"), "{v:?}");
    let summary: Value = cmd("XPENDING").arg("s").arg("g").query(&mut c).unwrap();
    let Value::Array(sm) = &summary else {
        panic!("{summary:?}")
    };
    assert_eq!(sm[0], Value::Int(2));
    assert_eq!(
        cmd("XACK")
            .arg("s")
            .arg("g")
            .arg("3-0")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    let claimed: Value = cmd("XCLAIM")
        .arg("s")
        .arg("g")
        .arg("bob")
        .arg(0)
        .arg("4-0")
        .arg("JUSTID")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        claimed,
        Value::Array(vec![Value::BulkString(b"4-0".to_vec())])
    );
    let auto: Value = cmd("XAUTOCLAIM")
        .arg("s")
        .arg("g")
        .arg("carol")
        .arg(0)
        .arg("0")
        .query(&mut c)
        .unwrap();
    assert!(format!("{auto:?}").contains("4-0"), "{auto:?}");
    let groups: Value = cmd("XINFO").arg("GROUPS").arg("s").query(&mut c).unwrap();
    assert!(format!("{groups:?}").contains("pending"), "{groups:?}");
    let consumers: Value = cmd("XINFO")
        .arg("CONSUMERS")
        .arg("s")
        .arg("g")
        .query(&mut c)
        .unwrap();
    assert!(format!("{consumers:?}").contains("carol"), "{consumers:?}");
    assert_eq!(
        cmd("XGROUP")
            .arg("CREATECONSUMER")
            .arg("s")
            .arg("g")
            .arg("dave")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert_eq!(
        cmd("XGROUP")
            .arg("DELCONSUMER")
            .arg("s")
            .arg("g")
            .arg("dave")
            .query::<i64>(&mut c)
            .unwrap(),
        0
    );
    let _: () = cmd("XGROUP")
        .arg("SETID")
        .arg("s")
        .arg("g")
        .arg("$")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        cmd("XGROUP")
            .arg("DESTROY")
            .arg("s")
            .arg("g")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert_eq!(
        err_text(
            cmd("XREADGROUP")
                .arg("GROUP")
                .arg("g")
                .arg("a")
                .arg("STREAMS")
                .arg("s")
                .arg(">")
                .query(&mut c)
        ),
        "NOGROUP No such key 's' or consumer group 'g' in XREADGROUP with GROUP option"
    );
    let v: Value = cmd("XREAD")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg("s")
        .arg("0")
        .query(&mut c)
        .unwrap();
    assert!(format!("{v:?}").contains("3-0"), "{v:?}");
    assert_eq!(
        cmd("XREAD")
            .arg("STREAMS")
            .arg("s")
            .arg("$")
            .query::<Value>(&mut c)
            .unwrap(),
        Value::Nil
    );
}

#[test]
fn brook_extensions() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    // Optimistic concurrency.
    let first: String = cmd("XADD")
        .arg("ev")
        .arg("IFEMPTY")
        .arg("*")
        .arg("e")
        .arg("created")
        .query(&mut c)
        .unwrap();
    let e = err_text(
        cmd("XADD")
            .arg("ev")
            .arg("IFEMPTY")
            .arg("*")
            .arg("e")
            .arg("again")
            .query(&mut c),
    );
    assert!(e.starts_with("CONFLICT") && e.contains(&first), "{e}");
    let second: String = cmd("XADD")
        .arg("ev")
        .arg("IFTOP")
        .arg(&first)
        .arg("*")
        .arg("e")
        .arg("paid")
        .query(&mut c)
        .unwrap();
    let e = err_text(
        cmd("XADD")
            .arg("ev")
            .arg("IFTOP")
            .arg(&first)
            .arg("*")
            .arg("e")
            .arg("stale")
            .query(&mut c),
    );
    assert!(e.starts_with("CONFLICT") && e.contains(&second), "{e}");
    assert_eq!(cmd("XLEN").arg("ev").query::<i64>(&mut c).unwrap(), 2);
    // Atomic append to several streams.
    let ids: Vec<String> = cmd("XMADD")
        .arg("a")
        .arg(1)
        .arg("f")
        .arg("v")
        .arg("b")
        .arg(1)
        .arg("f")
        .arg("w")
        .query(&mut c)
        .unwrap();
    assert_eq!(ids.len(), 2);
    let e = err_text(
        cmd("XMADD")
            .arg("a")
            .arg(1)
            .arg("f")
            .arg("v")
            .arg("b")
            .arg("IFTOP")
            .arg("1-1")
            .arg(1)
            .arg("f")
            .arg("w")
            .query(&mut c),
    );
    assert!(e.starts_with("CONFLICT"), "{e}");
    assert_eq!(
        cmd("XLEN").arg("a").query::<i64>(&mut c).unwrap(),
        1,
        "a conflict writes nothing"
    );
    // Per-stream settings.
    assert_eq!(
        err_text(
            cmd("XCFGSET")
                .arg("nokey")
                .arg("FSYNC")
                .arg("always")
                .query(&mut c)
        ),
        "ERR no such key"
    );
    let _: () = cmd("XCFGSET")
        .arg("ev")
        .arg("FSYNC")
        .arg("always")
        .arg("MAXAGE")
        .arg(60_000)
        .arg("MAXBYTES")
        .arg(1 << 20)
        .arg("SEGMENT-BYTES")
        .arg(65536)
        .query(&mut c)
        .unwrap();
    let _: () = cmd("XCFGSET")
        .arg("ev")
        .arg("IDMP-DURATION")
        .arg(100)
        .arg("IDMP-MAXSIZE")
        .arg(10)
        .query(&mut c)
        .unwrap();
    let cfg: Vec<String> = cmd("XCFGGET").arg("ev").query(&mut c).unwrap();
    let joined = cfg.join(" ");
    assert!(
        joined.contains("fsync always")
            && joined.contains("maxage 60000")
            && joined.contains("maxbytes 1048576")
            && joined.contains("segment-bytes 65536"),
        "{joined}"
    );
}

#[test]
fn blocking_reads() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    // A timeout answers nil after about the time asked.
    let t = Instant::now();
    let v: Value = cmd("XREAD")
        .arg("BLOCK")
        .arg(200)
        .arg("STREAMS")
        .arg("s")
        .arg("$")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, Value::Nil);
    assert!(t.elapsed() >= Duration::from_millis(190));
    // Several waiters on one key are all woken by one XADD.
    let addr = s.addr;
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                let mut w = redis::Client::open(format!("redis://{addr}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
                let v: Value = cmd("XREAD")
                    .arg("BLOCK")
                    .arg(0)
                    .arg("STREAMS")
                    .arg("s")
                    .arg("$")
                    .query(&mut w)
                    .unwrap();
                ids(&match v {
                    Value::Array(mut streams) => match streams.remove(0) {
                        Value::Array(mut kv) => kv.remove(1),
                        o => o,
                    },
                    o => o,
                })
            })
        })
        .collect();
    wait_blocked(&mut c, 3);
    xadd(&mut c, "s", "5-0", 1);
    for w in waiters {
        assert_eq!(w.join().unwrap(), ["5-0"]);
    }
    // XREADGROUP `>` hands each entry to one consumer, in the order they blocked.
    let _: () = cmd("XGROUP")
        .arg("CREATE")
        .arg("s")
        .arg("g")
        .arg("$")
        .query(&mut c)
        .unwrap();
    let mut handles = Vec::new();
    for name in ["first", "second"] {
        handles.push(std::thread::spawn(move || {
            let mut w = redis::Client::open(format!("redis://{addr}/"))
                .unwrap()
                .get_connection()
                .unwrap();
            let v: Value = cmd("XREADGROUP")
                .arg("GROUP")
                .arg("g")
                .arg(name)
                .arg("COUNT")
                .arg(1)
                .arg("BLOCK")
                .arg(0)
                .arg("STREAMS")
                .arg("s")
                .arg(">")
                .query(&mut w)
                .unwrap();
            format!("{v:?}")
        }));
        wait_blocked(&mut c, handles.len());
    }
    let _: Vec<String> = redis::pipe()
        .cmd("XADD")
        .arg("s")
        .arg("6-0")
        .arg("n")
        .arg(1)
        .cmd("XADD")
        .arg("s")
        .arg("7-0")
        .arg("n")
        .arg(2)
        .query(&mut c)
        .unwrap();
    let got: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(got[0].contains("6-0") && !got[0].contains("7-0"), "{got:?}");
    assert!(got[1].contains("7-0") && !got[1].contains("6-0"), "{got:?}");
    // A waiter that disconnects is cleared.
    let _ = raw(
        addr,
        b"XREAD BLOCK 0 STREAMS s $\r\n",
        Duration::from_millis(200),
    );
    std::thread::sleep(Duration::from_millis(100));
    wait_blocked(&mut c, 0);
    // CLIENT UNBLOCK.
    let h = std::thread::spawn(move || {
        let mut w = redis::Client::open(format!("redis://{addr}/"))
            .unwrap()
            .get_connection()
            .unwrap();
        let id: i64 = cmd("CLIENT").arg("ID").query(&mut w).unwrap();
        let r: redis::RedisResult<Value> = cmd("XREAD")
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg("s")
            .arg("$")
            .query(&mut w);
        (id, r.map_err(|e| e.to_string()))
    });
    wait_blocked(&mut c, 1);
    let list: String = cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    let blocked_id: i64 = list
        .lines()
        .find(|l| l.contains("flags=b"))
        .and_then(|l| l.split(' ').next())
        .and_then(|f| f.strip_prefix("id="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        cmd("CLIENT")
            .arg("UNBLOCK")
            .arg(blocked_id)
            .arg("ERROR")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    let (id, r) = h.join().unwrap();
    assert_eq!(id, blocked_id);
    assert!(r.unwrap_err().contains("UNBLOCKED"));
    // In MULTI a blocking read answers at once.
    let (v,): (Value,) = redis::pipe()
        .atomic()
        .cmd("XREAD")
        .arg("BLOCK")
        .arg(0)
        .arg("STREAMS")
        .arg("s")
        .arg("$")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, Value::Nil);
}

/// Waits until INFO says `n` clients are blocked.
fn wait_blocked(c: &mut redis::Connection, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info: String = cmd("INFO").arg("clients").query(c).unwrap();
        if info.contains(&format!("blocked_clients:{n}\r")) {
            return;
        }
        assert!(Instant::now() < deadline, "never {n} blocked: {info}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn restart_keeps_streams_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["--appendfsync", "always"]);
    let mut c = s.conn();
    for db in [0, 5] {
        let _: () = cmd("SELECT").arg(db).query(&mut c).unwrap();
        for i in 1..=50 {
            xadd(&mut c, "orders", &format!("{i}-1"), i);
        }
        let _: () = cmd("XGROUP")
            .arg("CREATE")
            .arg("orders")
            .arg("billing")
            .arg("0")
            .query(&mut c)
            .unwrap();
        let _: Value = cmd("XREADGROUP")
            .arg("GROUP")
            .arg("billing")
            .arg("w1")
            .arg("COUNT")
            .arg(10)
            .arg("STREAMS")
            .arg("orders")
            .arg(">")
            .query(&mut c)
            .unwrap();
        let _: i64 = cmd("XACK")
            .arg("orders")
            .arg("billing")
            .arg("1-1")
            .arg("2-1")
            .query(&mut c)
            .unwrap();
        let _: () = cmd("XCFGSET")
            .arg("orders")
            .arg("MAXBYTES")
            .arg(1 << 30)
            .query(&mut c)
            .unwrap();
    }
    s.kill9();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    for db in [0, 5] {
        let _: () = cmd("SELECT").arg(db).query(&mut c).unwrap();
        assert_eq!(cmd("XLEN").arg("orders").query::<i64>(&mut c).unwrap(), 50);
        let summary: Value = cmd("XPENDING")
            .arg("orders")
            .arg("billing")
            .query(&mut c)
            .unwrap();
        let Value::Array(sm) = summary else { panic!() };
        assert_eq!(sm[0], Value::Int(8));
        let v: Value = cmd("XREADGROUP")
            .arg("GROUP")
            .arg("billing")
            .arg("w2")
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg("orders")
            .arg(">")
            .query(&mut c)
            .unwrap();
        assert!(format!("{v:?}").contains("11-1"), "{v:?}");
        let cfg: Vec<String> = cmd("XCFGGET").arg("orders").query(&mut c).unwrap();
        assert!(cfg.join(" ").contains("maxbytes 1073741824"), "{cfg:?}");
    }
}

#[test]
fn pipelined_xadds_reply_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    // Plain XADDs to one key go out in one write; each keeps its reply, a
    // refused ID is an error among them, and other forms run in between.
    let text = common::server::talk(
        s.addr,
        b"XADD p 5-1 a 1\r\nXADD p 5-2 a 2\r\nXADD p 5-2 a dup\r\nXADD p 0-0 a z\r\nXADD p MAXLEN 2 5-3 a 3\r\nXADD p 5-4 a 4\r\nXADD q 1-1 b 1\r\nXADD p 5-5 odd\r\nXLEN p\r\n",
    );
    assert_eq!(
        text,
        "$3\r\n5-1\r\n$3\r\n5-2\r\n-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n-ERR The ID specified in XADD must be greater than 0-0\r\n$3\r\n5-3\r\n$3\r\n5-4\r\n$3\r\n1-1\r\n-ERR wrong number of arguments for 'xadd' command\r\n:3\r\n"
    );
    let mut c = s.conn();
    let v: Value = cmd("XRANGE")
        .arg("p")
        .arg("-")
        .arg("+")
        .query(&mut c)
        .unwrap();
    assert_eq!(ids(&v), ["5-2", "5-3", "5-4"]);
    let info: String = cmd("INFO").arg("commandstats").query(&mut c).unwrap();
    // The arity error is a rejected call, not a call (as in Redis).
    assert!(info.contains("cmdstat_xadd:calls=7,"), "{info}");
    assert!(info.contains("rejected_calls=1,failed_calls=2"), "{info}");
}
