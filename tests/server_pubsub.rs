//! Pub/Sub against the real server: RESP2 subscribed mode and RESP3
//! pushes, patterns and shard channels, PUBSUB introspection, fan-out to
//! many subscribers, slow subscribers cut off at their output limits, and
//! keyspace notifications.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::server::{Server, err_text, talk};
use redis::{Value, cmd};

/// A raw connection: send bytes, read what comes back within a while.
struct Raw(TcpStream);

impl Raw {
    fn new(s: &Server) -> Raw {
        let t = TcpStream::connect(s.addr).unwrap();
        t.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Raw(t)
    }

    fn send(&mut self, b: &str) {
        self.0.write_all(b.as_bytes()).unwrap();
    }

    /// Reads until `want` bytes arrived or the reads time out.
    fn read(&mut self, want: usize) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(10);
        while out.len() < want && Instant::now() < deadline {
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(_) if want == usize::MAX => break,
                Err(_) => {}
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends `b` and reads exactly `expected.len()` bytes back.
    fn expect(&mut self, b: &str, expected: &str) {
        self.send(b);
        assert_eq!(self.read(expected.len()), expected, "after {b:?}");
    }
}

fn push(kind: &str, items: &[&str], resp3: bool) -> String {
    let mut s = format!("{}{}\r\n", if resp3 { '>' } else { '*' }, items.len() + 1);
    for it in std::iter::once(&kind).chain(items) {
        s += &format!("${}\r\n{it}\r\n", it.len());
    }
    s
}

fn confirm(kind: &str, name: &str, n: i64, resp3: bool) -> String {
    let c = if resp3 { '>' } else { '*' };
    format!(
        "{c}3\r\n${}\r\n{kind}\r\n${}\r\n{name}\r\n:{n}\r\n",
        kind.len(),
        name.len()
    )
}

fn q<T: redis::FromRedisValue>(c: &mut redis::Connection, args: &[&str]) -> T {
    let mut k = cmd(args[0]);
    for a in &args[1..] {
        k.arg(*a);
    }
    k.query(c).unwrap()
}

#[test]
fn resp2_subscribed_mode() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    let mut sub = Raw::new(&s);
    let expected = confirm("subscribe", "news", 1, false)
        + &confirm("subscribe", "other", 2, false)
        + &confirm("psubscribe", "n?w*", 3, false)
        + &confirm("ssubscribe", "shard", 1, false);
    sub.expect(
        "SUBSCRIBE news other\r\nPSUBSCRIBE n?w*\r\nSSUBSCRIBE shard\r\n",
        &expected,
    );
    // Only the Pub/Sub commands, PING, QUIT and RESET are allowed.
    sub.expect(
        "GET x\r\n",
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    sub.expect(
        "PUBSUB NUMPAT\r\n",
        "-ERR Can't execute 'pubsub|numpat': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    sub.expect("PING\r\n", "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    sub.expect("PING hi\r\n", "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");

    // PUBLISH counts every subscription reached, the pattern included.
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "news", "hello"]), 2);
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "nowhere", "x"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "nobody", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SPUBLISH", "shard", "s1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SPUBLISH", "news", "s2"]), 0);
    let expected = push("message", &["news", "hello"], false)
        + &push("pmessage", &["n?w*", "news", "hello"], false)
        + &push("pmessage", &["n?w*", "nowhere", "x"], false)
        + &push("smessage", &["shard", "s1"], false);
    assert_eq!(sub.read(expected.len()), expected);

    // Introspection.
    let mut chans: Vec<String> = q(&mut c, &["PUBSUB", "CHANNELS"]);
    chans.sort();
    assert_eq!(chans, ["news", "other"]);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["PUBSUB", "CHANNELS", "n*"]),
        ["news"]
    );
    assert_eq!(
        q::<Vec<Value>>(&mut c, &["PUBSUB", "NUMSUB", "news", "none"]),
        [
            Value::BulkString(b"news".to_vec()),
            Value::Int(1),
            Value::BulkString(b"none".to_vec()),
            Value::Int(0)
        ]
    );
    assert_eq!(q::<i64>(&mut c, &["PUBSUB", "NUMPAT"]), 1);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["PUBSUB", "SHARDCHANNELS"]),
        ["shard"]
    );
    let info: String = q(&mut c, &["INFO", "stats"]);
    assert!(info.contains("pubsub_channels:2\r\n"), "{info}");
    assert!(info.contains("pubsub_patterns:1\r\n"), "{info}");
    let list: String = q(&mut c, &["CLIENT", "LIST"]);
    assert!(list.contains("flags=P db=0 sub=2 psub=1 ssub=1"), "{list}");
    assert_eq!(
        err_text(cmd("PUBSUB").arg("FOO").query(&mut c)),
        "ERR unknown subcommand 'FOO'. Try PUBSUB HELP."
    );

    // Pipelined publishes (run together) count and deliver in order, and a
    // subscribed RESP2 client's are refused one by one, as alone.
    let mut p = Raw::new(&s);
    p.expect(
        "PUBLISH news a\r\nSPUBLISH shard b\r\nPUBLISH nobody c\r\nPUBLISH news d\r\nPING\r\n",
        ":2\r\n:1\r\n:0\r\n:2\r\n+PONG\r\n",
    );
    let expected = push("message", &["news", "a"], false)
        + &push("pmessage", &["n?w*", "news", "a"], false)
        + &push("smessage", &["shard", "b"], false)
        + &push("message", &["news", "d"], false)
        + &push("pmessage", &["n?w*", "news", "d"], false);
    assert_eq!(sub.read(expected.len()), expected);
    let refused = "-ERR Can't execute 'publish': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
    sub.expect(
        "PUBLISH news x\r\nPUBLISH news y\r\n",
        &format!("{refused}{refused}"),
    );
    p.expect("PUBLISH news z\r\n", ":2\r\n");
    let expected =
        push("message", &["news", "z"], false) + &push("pmessage", &["n?w*", "news", "z"], false);
    assert_eq!(sub.read(expected.len()), expected);
}

#[test]
fn unsubscribing_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    let mut sub = Raw::new(&s);
    sub.expect(
        "SUBSCRIBE a\r\nPSUBSCRIBE p*\r\nUNSUBSCRIBE a\r\nUNSUBSCRIBE a\r\n",
        &(confirm("subscribe", "a", 1, false)
            + &confirm("psubscribe", "p*", 2, false)
            + &confirm("unsubscribe", "a", 1, false)
            + &confirm("unsubscribe", "a", 1, false)),
    );
    // PUNSUBSCRIBE with no name leaves every pattern; with none left the
    // name is nil. Out of subscribed mode, commands work again.
    sub.expect(
        "PUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nGET x\r\n",
        &(confirm("punsubscribe", "p*", 0, false)
            + "*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n$-1\r\n"),
    );
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "a", "x"]), 0);
    // RESET leaves subscribed mode.
    sub.expect(
        "SUBSCRIBE a b\r\nRESET\r\nGET x\r\n",
        &(confirm("subscribe", "a", 1, false)
            + &confirm("subscribe", "b", 2, false)
            + "+RESET\r\n$-1\r\n"),
    );
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "a", "x"]), 0);
    // A subscriber that goes away leaves its channels.
    let mut gone = Raw::new(&s);
    gone.expect("SUBSCRIBE g\r\n", &confirm("subscribe", "g", 1, false));
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "g", "x"]), 1);
    drop(gone);
    let t = Instant::now();
    while q::<i64>(&mut c, &["PUBLISH", "g", "x"]) != 0 {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn resp3_pushes_interleave_with_replies() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    let mut sub = Raw::new(&s);
    sub.send("HELLO 3\r\n");
    sub.read(usize::MAX);
    sub.expect("SUBSCRIBE ch\r\n", &confirm("subscribe", "ch", 1, true));
    // Any command works while subscribed in RESP3.
    sub.expect(
        "SET k v\r\nGET k\r\nPING\r\n",
        "+OK\r\n$1\r\nv\r\n+PONG\r\n",
    );
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "ch", "m1"]), 1);
    let m1 = push("message", &["ch", "m1"], true);
    assert_eq!(sub.read(m1.len()), m1);
    sub.expect("LPUSH l a\r\n", ":1\r\n");
    // The redis crate's RESP3 push handling sees the same messages.
    let client = s.client3();
    let mut con = client.get_connection().unwrap();
    let mut ps = con.as_pubsub();
    ps.subscribe("ch").unwrap();
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "ch", "m2"]), 2);
    let msg = ps.get_message().unwrap();
    assert_eq!(msg.get_channel_name(), "ch");
    assert_eq!(msg.get_payload::<String>().unwrap(), "m2");
}

#[test]
fn one_publish_reaches_many_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    const N: usize = 500;
    let mut subs: Vec<Raw> = (0..N).map(|_| Raw::new(&s)).collect();
    let ok = confirm("subscribe", "fan", 1, false);
    for sub in &mut subs {
        sub.expect("SUBSCRIBE fan\r\n", &ok);
    }
    let payload = "x".repeat(10_000);
    for i in 0..5 {
        let msg = format!("{i}{payload}");
        assert_eq!(q::<i64>(&mut c, &["PUBLISH", "fan", &msg]), N as i64);
    }
    for sub in &mut subs {
        let expected: String = (0..5)
            .map(|i| push("message", &["fan", &format!("{i}{payload}")], false))
            .collect();
        assert_eq!(sub.read(expected.len()), expected);
    }
}

/// INFO's count of clients cut off at their output limits.
fn limit_disconnections(c: &mut redis::Connection) -> u64 {
    let info: String = q(c, &["INFO", "stats"]);
    info.lines()
        .find_map(|l| l.strip_prefix("client_output_buffer_limit_disconnections:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

#[test]
fn a_subscriber_that_does_not_read_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    // Redis's default for pub/sub clients.
    let cfg: Vec<String> = q(&mut c, &["CONFIG", "GET", "client-output-buffer-limit"]);
    assert!(cfg[1].contains("pubsub 33554432 8388608 60"), "{cfg:?}");
    // A healthy reader on the same channel keeps receiving throughout.
    let client = s.client();
    let mut reader_con = client.get_connection().unwrap();
    let reader = std::thread::spawn(move || {
        let mut ps = reader_con.as_pubsub();
        ps.subscribe("firehose").unwrap();
        let mut n = 0;
        while let Ok(m) = ps.get_message() {
            if m.get_payload::<Vec<u8>>().unwrap().len() == 1 {
                break;
            }
            n += 1;
        }
        n
    });
    // The hard limit: a subscriber that never reads, with 1 MB messages.
    let mut stuck = Raw::new(&s);
    stuck.expect(
        "SUBSCRIBE firehose\r\n",
        &confirm("subscribe", "firehose", 1, false),
    );
    let t = Instant::now();
    while q::<(String, i64)>(&mut c, &["PUBSUB", "NUMSUB", "firehose"]).1 < 2 {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    let big = "m".repeat(1 << 20);
    let before = limit_disconnections(&mut c);
    let mut sent = 0;
    let t = Instant::now();
    loop {
        let n: i64 = q(&mut c, &["PUBLISH", "firehose", &big]);
        sent += 1;
        if n == 1 {
            break;
        }
        assert!(sent < 500, "the stuck subscriber was never cut off");
    }
    assert!(limit_disconnections(&mut c) > before);
    eprintln!(
        "stuck subscriber cut off after {sent} MB in {:?}",
        t.elapsed()
    );
    // Well over the 32 MB hard limit plus what the kernel buffers, never
    // much more.
    assert!((33..=200).contains(&sent), "{sent}");
    q::<i64>(&mut c, &["PUBLISH", "firehose", "."]);
    assert_eq!(reader.join().unwrap(), sent);

    // The soft limit: over 256 kB for more than 1 s.
    q::<String>(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 0 256kb 1",
        ],
    );
    let mut slow = Raw::new(&s);
    slow.expect(
        "SUBSCRIBE slow\r\n",
        &confirm("subscribe", "slow", 1, false),
    );
    let chunk = "s".repeat(64 << 10);
    let t = Instant::now();
    let mut cut = false;
    while t.elapsed() < Duration::from_secs(20) {
        if q::<i64>(&mut c, &["PUBLISH", "slow", &chunk]) == 0 {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cut, "the slow subscriber was never cut off");
    assert!(t.elapsed() >= Duration::from_secs(1));
    drop(stuck);
    drop(slow);
}

#[test]
fn keyspace_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "__keyspace@0__:k", "x"]), 0);
    assert_eq!(
        talk(s.addr, b"CONFIG SET notify-keyspace-events Kq\r\n"),
        "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n"
    );
    q::<String>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let got: Vec<String> = q(&mut c, &["CONFIG", "GET", "notify-keyspace-events"]);
    assert_eq!(got[1], "AKE");
    let mut sub = Raw::new(&s);
    sub.expect(
        "PSUBSCRIBE __keyspace@0__:* __keyevent@0__:*\r\n",
        &(confirm("psubscribe", "__keyspace@0__:*", 1, false)
            + &confirm("psubscribe", "__keyevent@0__:*", 2, false)),
    );
    q::<i64>(&mut c, &["RPUSH", "q", "a"]);
    q::<String>(&mut c, &["LPOP", "q"]);
    q::<String>(&mut c, &["XADD", "s", "*", "f", "v"]);
    q::<String>(&mut c, &["SET", "k", "1"]);
    q::<i64>(&mut c, &["INCRBY", "k", "2"]);
    q::<i64>(&mut c, &["EXPIRE", "k", "100"]);
    q::<String>(&mut c, &["RENAME", "k", "k2"]);
    q::<i64>(&mut c, &["DEL", "k2"]);
    let events = [
        ("q", "rpush", 'l'),
        ("q", "lpop", 'l'),
        ("q", "del", 'g'),
        ("s", "xadd", 't'),
        ("k", "set", '$'),
        ("k", "incrby", '$'),
        ("k", "expire", 'g'),
        ("k", "rename_from", 'g'),
        ("k2", "rename_to", 'g'),
        ("k2", "del", 'g'),
    ];
    let mut expected = String::new();
    for (key, event, _) in events {
        let space = format!("__keyspace@0__:{key}");
        let evch = format!("__keyevent@0__:{event}");
        expected += &push("pmessage", &["__keyspace@0__:*", &space, event], false);
        expected += &push("pmessage", &["__keyevent@0__:*", &evch, key], false);
    }
    assert_eq!(sub.read(expected.len()), expected);
    // Only the classes asked for: lists only, keyspace channel only.
    q::<String>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Kl"]);
    q::<i64>(&mut c, &["RPUSH", "q2", "a"]);
    q::<String>(&mut c, &["SET", "k", "1"]);
    q::<String>(&mut c, &["RPOP", "q2"]);
    let expected = push(
        "pmessage",
        &["__keyspace@0__:*", "__keyspace@0__:q2", "rpush"],
        false,
    ) + &push(
        "pmessage",
        &["__keyspace@0__:*", "__keyspace@0__:q2", "rpop"],
        false,
    );
    assert_eq!(sub.read(usize::MAX), expected);
    // Expired keys, removed by the background pass or when looked up.
    q::<String>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Ex"]);
    q::<String>(&mut c, &["SET", "lock", "token", "PX", "50"]);
    q::<i64>(&mut c, &["RPUSH", "job", "a"]);
    q::<i64>(&mut c, &["PEXPIRE", "job", "20"]);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "job"]), 0);
    let job = push(
        "pmessage",
        &["__keyevent@0__:*", "__keyevent@0__:expired", "job"],
        false,
    );
    let lock = push(
        "pmessage",
        &["__keyevent@0__:*", "__keyevent@0__:expired", "lock"],
        false,
    );
    assert_eq!(sub.read(job.len() + lock.len()), job + &lock);
}
