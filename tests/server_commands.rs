//! The connection, server and keyspace commands against the real server,
//! through the `redis` crate and raw RESP.

mod common;

use std::time::{Duration, Instant};

use common::server::{Server, err_text, raw, talk};
use redis::{Value, cmd};

#[test]
fn connection_commands() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    assert_eq!(cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    assert_eq!(cmd("PING").arg("hi").query::<String>(&mut c).unwrap(), "hi");
    assert_eq!(
        cmd("ECHO").arg("x y").query::<String>(&mut c).unwrap(),
        "x y"
    );
    let t: Vec<String> = cmd("TIME").query(&mut c).unwrap();
    assert!(t[0].parse::<u64>().unwrap() > 1_700_000_000);
    assert_eq!(
        err_text(cmd("FOO").arg("a").arg("b").query(&mut c)),
        "ERR unknown command 'FOO', with args beginning with: 'a' 'b'"
    );
    assert_eq!(
        err_text(cmd("ECHO").query(&mut c)),
        "ERR wrong number of arguments for 'echo' command"
    );
    assert_eq!(
        err_text(cmd("SELECT").arg(16).query(&mut c)),
        "ERR DB index is out of range"
    );
    let _: () = cmd("SELECT").arg(3).query(&mut c).unwrap();
    let _: String = cmd("XADD")
        .arg("k")
        .arg("*")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 1);
    let _: () = cmd("SWAPDB").arg(3).arg(4).query(&mut c).unwrap();
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    let _: () = cmd("SELECT").arg(4).query(&mut c).unwrap();
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 1);
    // CLIENT.
    let _: () = cmd("CLIENT")
        .arg("SETNAME")
        .arg("me")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        cmd("CLIENT")
            .arg("GETNAME")
            .query::<String>(&mut c)
            .unwrap(),
        "me"
    );
    let id: i64 = cmd("CLIENT").arg("ID").query(&mut c).unwrap();
    let list: String = cmd("CLIENT").arg("LIST").query(&mut c).unwrap();
    assert!(
        list.contains(&format!("id={id} ")) && list.contains("name=me") && list.contains("db=4"),
        "{list}"
    );
    let info: String = cmd("CLIENT").arg("INFO").query(&mut c).unwrap();
    assert!(info.starts_with(&format!("id={id} ")));
    let _: () = cmd("CLIENT")
        .arg("SETINFO")
        .arg("LIB-NAME")
        .arg("test")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        err_text(cmd("CLIENT").arg("NOPE").query(&mut c)),
        "ERR unknown subcommand 'NOPE'. Try CLIENT HELP."
    );
    assert_eq!(
        err_text(cmd("CLIENT").arg("GETNAME").arg("x").query(&mut c)),
        "ERR wrong number of arguments for 'client|getname' command"
    );
    // CLIENT KILL of another connection.
    let mut other = s.conn();
    let other_id: i64 = cmd("CLIENT").arg("ID").query(&mut other).unwrap();
    assert_eq!(
        cmd("CLIENT")
            .arg("KILL")
            .arg("ID")
            .arg(other_id)
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    std::thread::sleep(Duration::from_millis(100));
    assert!(cmd("PING").query::<String>(&mut other).is_err());
    // RESET.
    assert_eq!(cmd("RESET").query::<String>(&mut c).unwrap(), "RESET");
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    assert_eq!(
        cmd("CLIENT")
            .arg("GETNAME")
            .query::<Option<String>>(&mut c)
            .unwrap(),
        None
    );
    // QUIT answers OK and closes.
    let text = talk(s.addr, b"QUIT\r\nPING\r\n");
    assert_eq!(text, "+OK\r\n");
}

#[test]
fn hello_and_resp3() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let text = talk(
        s.addr,
        b"HELLO 3 SETNAME n1\r\nXADD s 1-1 a b\r\nXINFO STREAM s\r\nHELLO 4\r\n",
    );
    assert!(
        text.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n"),
        "{text}"
    );
    assert!(text.contains("$5\r\nproto\r\n:3\r\n"), "{text}");
    assert!(text.contains("$3\r\n1-1\r\n"), "{text}");
    // XINFO STREAM is a map in RESP3.
    assert!(text.contains("%10\r\n$6\r\nlength\r\n:1\r\n"), "{text}");
    assert!(
        text.ends_with("-NOPROTO unsupported protocol version\r\n"),
        "{text}"
    );
    // The redis crate's RESP3 mode works.
    let mut c = s.client3().get_connection().unwrap();
    let v: Value = cmd("XINFO").arg("STREAM").arg("s").query(&mut c).unwrap();
    assert!(matches!(v, Value::Map(_)), "{v:?}");
}

#[test]
fn auth_and_noauth() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["--requirepass", "s3cret"]);
    let text = talk(
        s.addr,
        b"PING\r\nXLEN s\r\nAUTH wrong\r\nAUTH s3cret\r\nPING\r\n",
    );
    assert_eq!(
        text,
        "-NOAUTH Authentication required.\r\n-NOAUTH Authentication required.\r\n-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n+PONG\r\n"
    );
    let text = talk(
        s.addr,
        b"HELLO 3\r\nHELLO 2 AUTH default s3cret\r\nDBSIZE\r\n",
    );
    assert!(
        text.starts_with("-NOAUTH HELLO must be called with the client already authenticated"),
        "{text}"
    );
    assert!(text.ends_with(":0\r\n"), "{text}");
    let c = redis::Client::open(format!("redis://:s3cret@{}/", s.addr)).unwrap();
    let mut c = c.get_connection().unwrap();
    assert_eq!(cmd("PING").query::<String>(&mut c).unwrap(), "PONG");
    assert!(
        redis::Client::open(format!("redis://:bad@{}/", s.addr))
            .unwrap()
            .get_connection()
            .is_err()
    );
}

#[test]
fn protected_mode_refuses_non_loopback_clients() {
    // Find an address of this machine that is not loopback.
    let Some(ip) = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|u| u.connect("10.255.255.1:9").map(|_| u))
        .and_then(|u| u.local_addr())
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
    else {
        eprintln!("no non-loopback address on this machine: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["--bind", "0.0.0.0"]);
    let addr = std::net::SocketAddr::new(ip, s.addr.port());
    let out = raw(addr, b"PING\r\n", Duration::from_millis(500));
    assert!(
        String::from_utf8_lossy(&out).starts_with("-DENIED Brook is running in protected mode"),
        "{:?}",
        String::from_utf8_lossy(&out)
    );
    // Loopback is served.
    let local = std::net::SocketAddr::new("127.0.0.1".parse().unwrap(), s.addr.port());
    assert_eq!(
        raw(local, b"PING\r\n", Duration::from_millis(300)),
        b"+PONG\r\n"
    );
    // With a password, the outside client may authenticate.
    let mut c = redis::Client::open(format!("redis://{local}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("pw")
        .query(&mut c)
        .unwrap();
    let out = raw(addr, b"AUTH pw\r\nPING\r\n", Duration::from_millis(500));
    assert_eq!(out, b"+OK\r\n+PONG\r\n");
}

#[test]
fn keyspace_commands() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    for k in ["a", "b", "c"] {
        let _: String = cmd("XADD")
            .arg(k)
            .arg("*")
            .arg("f")
            .arg("v")
            .query(&mut c)
            .unwrap();
    }
    assert_eq!(
        cmd("EXISTS")
            .arg("a")
            .arg("a")
            .arg("z")
            .query::<i64>(&mut c)
            .unwrap(),
        2
    );
    assert_eq!(
        cmd("TYPE").arg("a").query::<String>(&mut c).unwrap(),
        "stream"
    );
    assert_eq!(
        cmd("TYPE").arg("z").query::<String>(&mut c).unwrap(),
        "none"
    );
    let mut keys: Vec<String> = cmd("KEYS").arg("*").query(&mut c).unwrap();
    keys.sort();
    assert_eq!(keys, ["a", "b", "c"]);
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, ks): (String, Vec<String>) = cmd("SCAN")
            .arg(&cursor)
            .arg("COUNT")
            .arg(1)
            .query(&mut c)
            .unwrap();
        seen.extend(ks);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    seen.sort();
    assert_eq!(seen, ["a", "b", "c"]);
    let (_, typed): (String, Vec<String>) = cmd("SCAN")
        .arg(0)
        .arg("TYPE")
        .arg("string")
        .query(&mut c)
        .unwrap();
    assert!(typed.is_empty());
    let rk: String = cmd("RANDOMKEY").query(&mut c).unwrap();
    assert!(["a", "b", "c"].contains(&rk.as_str()));
    assert_eq!(
        cmd("OBJECT")
            .arg("ENCODING")
            .arg("a")
            .query::<String>(&mut c)
            .unwrap(),
        "stream"
    );
    assert_eq!(
        cmd("OBJECT")
            .arg("REFCOUNT")
            .arg("a")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert_eq!(cmd("MOVE").arg("a").arg(1).query::<i64>(&mut c).unwrap(), 1);
    assert_eq!(cmd("MOVE").arg("a").arg(1).query::<i64>(&mut c).unwrap(), 0);
    assert_eq!(
        cmd("DEL").arg("b").arg("z").query::<i64>(&mut c).unwrap(),
        1
    );
    assert_eq!(cmd("UNLINK").arg("c").query::<i64>(&mut c).unwrap(), 1);
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    let _: () = cmd("SELECT").arg(1).query(&mut c).unwrap();
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 1);
    let _: () = cmd("FLUSHDB").query(&mut c).unwrap();
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    let _: String = cmd("XADD")
        .arg("x")
        .arg("*")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("FLUSHALL").arg("SYNC").query(&mut c).unwrap();
    assert_eq!(cmd("DBSIZE").query::<i64>(&mut c).unwrap(), 0);
    assert_eq!(
        cmd("RANDOMKEY").query::<Option<String>>(&mut c).unwrap(),
        None
    );
}

#[test]
fn server_commands() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    let info: String = cmd("INFO").query(&mut c).unwrap();
    for field in [
        "redis_version:7.",
        "arch_bits:64",
        "redis_mode:standalone",
        "tcp_port:",
        "uptime_in_seconds:",
        "connected_clients:1",
        "blocked_clients:0",
        "used_memory:",
        "cluster_enabled:0",
        "# Keyspace",
        "# Brook",
        "fsyncs:",
        "last_fsync_usec:",
    ] {
        assert!(info.contains(field), "{field} missing in {info}");
    }
    let _: String = cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let info: String = cmd("INFO")
        .arg("keyspace")
        .arg("commandstats")
        .query(&mut c)
        .unwrap();
    assert!(info.contains("db0:keys=1,expires=0,avg_ttl=0"), "{info}");
    assert!(info.contains("cmdstat_xadd:calls=1,"), "{info}");
    // CONFIG.
    let v: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("appendfsync")
        .arg("stream-node-*")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        v,
        [
            "appendfsync",
            "everysec",
            "stream-node-max-bytes",
            "4096",
            "stream-node-max-entries",
            "100"
        ]
    );
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("appendfsync")
        .arg("always")
        .arg("list-max-listpack-size")
        .arg("8")
        .query(&mut c)
        .unwrap();
    let v: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("appendfsync")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, ["appendfsync", "always"]);
    assert_eq!(
        err_text(
            cmd("CONFIG")
                .arg("SET")
                .arg("appendfsync")
                .arg("no")
                .arg("port")
                .arg("1")
                .query(&mut c)
        ),
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config"
    );
    // All or nothing: appendfsync stayed.
    let v: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("appendfsync")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, ["appendfsync", "always"]);
    let _: () = cmd("CONFIG").arg("RESETSTAT").query(&mut c).unwrap();
    let info: String = cmd("INFO").arg("commandstats").query(&mut c).unwrap();
    assert!(!info.contains("cmdstat_xadd"), "{info}");
    // COMMAND.
    let n: i64 = cmd("COMMAND").arg("COUNT").query(&mut c).unwrap();
    assert!(n > 50);
    let v: Value = cmd("COMMAND")
        .arg("INFO")
        .arg("xadd")
        .arg("nope")
        .query(&mut c)
        .unwrap();
    let Value::Array(rows) = v else {
        panic!("{v:?}")
    };
    let Value::Array(f) = &rows[0] else {
        panic!("{rows:?}")
    };
    assert_eq!(f[0], Value::BulkString(b"xadd".to_vec()));
    assert_eq!(f[1], Value::Int(-5));
    assert_eq!(
        (&f[3], &f[4], &f[5]),
        (&Value::Int(1), &Value::Int(1), &Value::Int(1))
    );
    assert_eq!(rows[1], Value::Nil);
    let docs: Value = cmd("COMMAND")
        .arg("DOCS")
        .arg("xadd")
        .query(&mut c)
        .unwrap();
    assert!(
        format!("{docs:?}").contains("Appends a new message"),
        "{docs:?}"
    );
    // Scripting answers truthfully.
    assert!(
        err_text(cmd("EVAL").arg("return 1").arg(0).query(&mut c))
            .starts_with("ERR scripting is not supported")
    );
    assert_eq!(
        cmd("SCRIPT")
            .arg("EXISTS")
            .arg("abc")
            .query::<Vec<i64>>(&mut c)
            .unwrap(),
        [0]
    );
    assert_eq!(
        cmd("FUNCTION")
            .arg("LIST")
            .query::<Vec<String>>(&mut c)
            .unwrap(),
        Vec::<String>::new()
    );
    let _: () = cmd("SCRIPT").arg("FLUSH").query(&mut c).unwrap();
    let _: () = cmd("FUNCTION").arg("FLUSH").query(&mut c).unwrap();
    // SAVE and friends sync.
    let _: () = cmd("SAVE").query(&mut c).unwrap();
    assert_eq!(
        cmd("BGSAVE").query::<String>(&mut c).unwrap(),
        "Background saving started"
    );
    assert_eq!(
        cmd("BGREWRITEAOF").query::<String>(&mut c).unwrap(),
        "Background append only file rewriting started"
    );
    assert!(cmd("LASTSAVE").query::<i64>(&mut c).unwrap() > 1_700_000_000);
    // DEBUG.
    let _: () = cmd("DEBUG")
        .arg("LOG")
        .arg("hello from the test")
        .query(&mut c)
        .unwrap();
    let t = std::time::Instant::now();
    let _: () = cmd("DEBUG").arg("SLEEP").arg("0.2").query(&mut c).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(200));
    let _: () = cmd("DEBUG").arg("RELOAD").query(&mut c).unwrap();
    assert_eq!(cmd("XLEN").arg("s").query::<i64>(&mut c).unwrap(), 1);
    assert!(s.log_text().contains("DEBUG LOG: hello from the test"));
}

#[test]
fn multi_exec_and_watch() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    let (a, b, len): (String, String, i64) = redis::pipe()
        .atomic()
        .cmd("XADD")
        .arg("s")
        .arg("1-1")
        .arg("f")
        .arg("v")
        .cmd("XADD")
        .arg("s")
        .arg("1-2")
        .arg("f")
        .arg("v")
        .cmd("XLEN")
        .arg("s")
        .query(&mut c)
        .unwrap();
    assert_eq!((a.as_str(), b.as_str(), len), ("1-1", "1-2", 2));
    // A queued command with the wrong arity aborts EXEC.
    let text = talk(
        s.addr,
        b"MULTI\r\nXLEN\r\nXLEN s\r\nEXEC\r\nEXEC\r\nDISCARD\r\n",
    );
    assert_eq!(
        text,
        "+OK\r\n-ERR wrong number of arguments for 'xlen' command\r\n+QUEUED\r\n-EXECABORT Transaction discarded because of previous errors.\r\n-ERR EXEC without MULTI\r\n-ERR DISCARD without MULTI\r\n"
    );
    // An error at run time is one reply among the others.
    let text = talk(s.addr, b"MULTI\r\nXADD s 1-1 f v\r\nXLEN s\r\nEXEC\r\n");
    assert_eq!(
        text,
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n:2\r\n"
    );
    // WATCH: a write by another client makes EXEC answer nil.
    let mut other = s.conn();
    let _: () = cmd("WATCH").arg("s").query(&mut c).unwrap();
    let _: String = cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("f")
        .arg("v")
        .query(&mut other)
        .unwrap();
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: String = cmd("XLEN").arg("s").query(&mut c).unwrap();
    let r: Value = cmd("EXEC").query(&mut c).unwrap();
    assert_eq!(r, Value::Nil);
    // Without a change it runs.
    let _: () = cmd("WATCH").arg("s").query(&mut c).unwrap();
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: String = cmd("XLEN").arg("s").query(&mut c).unwrap();
    let r: Vec<i64> = cmd("EXEC").query(&mut c).unwrap();
    assert_eq!(r, [3]);
    // UNWATCH forgets.
    let _: () = cmd("WATCH").arg("s").query(&mut c).unwrap();
    let _: () = cmd("UNWATCH").query(&mut c).unwrap();
    let _: String = cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("f")
        .arg("v")
        .query(&mut other)
        .unwrap();
    let _: () = cmd("MULTI").query(&mut c).unwrap();
    let _: String = cmd("XLEN").arg("s").query(&mut c).unwrap();
    let r: Vec<i64> = cmd("EXEC").query(&mut c).unwrap();
    assert_eq!(r, [4]);
}

#[test]
fn pipeline_of_ten_thousand_commands() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    let mut p = redis::pipe();
    for i in 0..10_000u64 {
        p.cmd("XADD")
            .arg("p")
            .arg(format!("{}-1", i + 1))
            .arg("n")
            .arg(i);
    }
    let ids: Vec<String> = p.query(&mut c).unwrap();
    assert_eq!(ids.len(), 10_000);
    assert_eq!(ids[9_999], "10000-1");
    assert_eq!(cmd("XLEN").arg("p").query::<i64>(&mut c).unwrap(), 10_000);
}

#[test]
fn bad_input_closes_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut keeper = s.conn();
    let _: String = cmd("XADD")
        .arg("s")
        .arg("1-1")
        .arg("f")
        .arg("v")
        .query(&mut keeper)
        .unwrap();
    let cases: &[(&[u8], &str)] = &[
        (
            b"*1\r\n$999999999999\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*3000000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n:12\r\n",
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"ECHO \"unbalanced\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (b"*2\r\n$4\r\nECHO\r\n$5\r\nab", ""),
    ];
    for (input, want) in cases {
        let out = raw(s.addr, input, Duration::from_millis(300));
        assert_eq!(
            String::from_utf8_lossy(&out),
            *want,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
    // Random garbage, in pieces.
    let mut seed = 0x2545F4914F6CDD1Du64;
    for _ in 0..50 {
        let mut junk = Vec::new();
        for _ in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            junk.push((seed >> 24) as u8);
        }
        let _ = raw(s.addr, &junk, Duration::from_millis(20));
    }
    // A huge declared bulk that never arrives does not reserve its size.
    let out = raw(
        s.addr,
        b"*1\r\n$536870912\r\nabc",
        Duration::from_millis(200),
    );
    assert!(out.is_empty());
    assert_eq!(cmd("XLEN").arg("s").query::<i64>(&mut keeper).unwrap(), 1);
    assert_eq!(cmd("PING").query::<String>(&mut keeper).unwrap(), "PONG");
}

#[test]
fn sigterm_and_shutdown_exit_cleanly_and_keep_data() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["--appendfsync", "no"]);
    let mut c = s.conn();
    for i in 1..=100 {
        let _: String = cmd("XADD")
            .arg("s")
            .arg(format!("{i}-0"))
            .arg("f")
            .arg("v")
            .query(&mut c)
            .unwrap();
    }
    let _: () = cmd("XGROUP")
        .arg("CREATE")
        .arg("s")
        .arg("g")
        .arg("0")
        .query(&mut c)
        .unwrap();
    let status = s.terminate();
    assert!(status.success(), "{status:?}");
    let s = Server::start(dir.path(), &[]);
    assert!(
        s.log_text().contains("recovered 1 streams, 100 entries"),
        "{}",
        s.log_text()
    );
    let mut c = s.conn();
    assert_eq!(cmd("XLEN").arg("s").query::<i64>(&mut c).unwrap(), 100);
    let r: Value = cmd("SHUTDOWN").query(&mut c).unwrap_or(Value::Nil);
    assert_eq!(r, Value::Nil);
    let mut s = s;
    assert!(s.wait_exit().success());
}

/// `THP_enabled` of a process, from /proc (None where the kernel does not
/// report it).
fn thp_enabled(pid: u32) -> Option<bool> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("THP_enabled:"))?;
    Some(line.split_whitespace().nth(1)? == "1")
}

#[test]
fn disable_thp_turns_huge_pages_off_for_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    let v: Vec<String> = cmd("CONFIG")
        .arg("GET")
        .arg("disable-thp")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, ["disable-thp", "yes"]);
    assert_eq!(
        err_text(
            cmd("CONFIG")
                .arg("SET")
                .arg("disable-thp")
                .arg("no")
                .query(&mut c)
        ),
        "ERR CONFIG SET failed (possibly related to argument 'disable-thp') - can't set immutable config"
    );
    let other = tempfile::tempdir().unwrap();
    let on = Server::start(other.path(), &["--disable-thp", "no"]);
    // Older kernels do not show the flag: then only the config is checked.
    let Some(off) = thp_enabled(s.child.id()) else {
        eprintln!("this kernel does not report THP_enabled; the flag is not checked");
        return;
    };
    assert!(!off, "THP still enabled under disable-thp yes");
    // The other way round only where the machine allows THP at all.
    let system = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled");
    if system.is_ok_and(|t| !t.contains("[never]")) {
        assert_eq!(
            thp_enabled(on.child.id()),
            Some(true),
            "THP off under disable-thp no"
        );
    }
}

#[test]
fn limits_maxclients_timeout_and_output_buffer() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &["--maxclients", "2", "--timeout", "1"]);
    let mut a = s.conn();
    let mut b = s.conn();
    assert_eq!(
        talk(s.addr, b"PING\r\n"),
        "-ERR max number of clients reached\r\n"
    );
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("100")
        .query(&mut a)
        .unwrap();
    // The idle timeout closes a connection that sends nothing.
    std::thread::sleep(Duration::from_millis(2200));
    assert!(
        cmd("PING").query::<String>(&mut b).is_err(),
        "idle client still served"
    );
    let mut c = s.conn();
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("timeout")
        .arg("0")
        .query(&mut c)
        .unwrap();
    // A reply over the hard output limit disconnects that client only.
    let big = "x".repeat(1000);
    for i in 0..300 {
        let _: String = cmd("XADD")
            .arg("big")
            .arg("*")
            .arg("v")
            .arg(&big)
            .arg("i")
            .arg(i)
            .query(&mut c)
            .unwrap();
    }
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("normal 100kb 0 0")
        .query(&mut c)
        .unwrap();
    let mut d = s.conn();
    assert!(
        cmd("XRANGE")
            .arg("big")
            .arg("-")
            .arg("+")
            .query::<Value>(&mut d)
            .is_err()
    );
    let v: Value = cmd("XRANGE")
        .arg("big")
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(10)
        .query(&mut c)
        .unwrap();
    assert!(matches!(v, Value::Array(ref e) if e.len() == 10));
    let info: String = cmd("INFO").arg("stats").query(&mut c).unwrap();
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1"),
        "{info}"
    );
    // A client that never reads its replies does not make the server grow
    // without bound: it stops being read, and the others are served.
    let _: () = cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("normal 0 0 0")
        .query(&mut c)
        .unwrap();
    let mut hog = std::net::TcpStream::connect(s.addr).unwrap();
    hog.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let req = b"XRANGE big - +\r\n".repeat(64);
    let mut sent = 0usize;
    for _ in 0..20_000 {
        use std::io::Write;
        if hog.write_all(&req).is_err() {
            break;
        }
        sent += 1;
    }
    assert!(
        sent < 20_000,
        "the server kept reading a client that never reads"
    );
    assert_eq!(cmd("XLEN").arg("big").query::<i64>(&mut c).unwrap(), 300);
    let rss = |info: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory_rss:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap()
    };
    let mem: String = cmd("INFO").arg("memory").query(&mut c).unwrap();
    assert!(rss(&mem) < 512 << 20, "{mem}");
}

#[test]
fn rename_copy_and_expiry_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    for i in 1..=5 {
        let _: String = cmd("XADD")
            .arg("a")
            .arg(format!("{i}-0"))
            .arg("n")
            .arg(i)
            .query(&mut c)
            .unwrap();
    }
    let _: () = cmd("XGROUP")
        .arg("CREATE")
        .arg("a")
        .arg("g")
        .arg("0")
        .query(&mut c)
        .unwrap();
    let _: Value = cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("w")
        .arg("COUNT")
        .arg(2)
        .arg("STREAMS")
        .arg("a")
        .arg(">")
        .query(&mut c)
        .unwrap();
    // RENAME and RENAMENX.
    assert_eq!(
        err_text(cmd("RENAME").arg("nope").arg("x").query(&mut c)),
        "ERR no such key"
    );
    let _: () = cmd("RENAME").arg("a").arg("b").query(&mut c).unwrap();
    assert_eq!(cmd("EXISTS").arg("a").query::<i64>(&mut c).unwrap(), 0);
    assert_eq!(cmd("XLEN").arg("b").query::<i64>(&mut c).unwrap(), 5);
    let _: String = cmd("XADD")
        .arg("other")
        .arg("*")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        cmd("RENAMENX")
            .arg("b")
            .arg("other")
            .query::<i64>(&mut c)
            .unwrap(),
        0
    );
    // COPY keeps entries and groups; REPLACE and DB.
    assert_eq!(
        cmd("COPY")
            .arg("b")
            .arg("other")
            .query::<i64>(&mut c)
            .unwrap(),
        0
    );
    assert_eq!(
        cmd("COPY")
            .arg("b")
            .arg("other")
            .arg("REPLACE")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert_eq!(
        cmd("COPY")
            .arg("b")
            .arg("b")
            .arg("DB")
            .arg(2)
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert_eq!(
        err_text(cmd("COPY").arg("b").arg("b").query(&mut c)),
        "ERR source and destination objects are the same"
    );
    let _: String = cmd("XADD")
        .arg("b")
        .arg("6-0")
        .arg("n")
        .arg(6)
        .query(&mut c)
        .unwrap();
    assert_eq!(
        cmd("XLEN").arg("other").query::<i64>(&mut c).unwrap(),
        5,
        "a copy is independent"
    );
    let pending: Value = cmd("XPENDING").arg("other").arg("g").query(&mut c).unwrap();
    let Value::Array(p) = pending else { panic!() };
    assert_eq!(p[0], Value::Int(2));
    // Expiry.
    assert_eq!(cmd("TTL").arg("nope").query::<i64>(&mut c).unwrap(), -2);
    assert_eq!(cmd("TTL").arg("b").query::<i64>(&mut c).unwrap(), -1);
    assert_eq!(
        cmd("EXPIRE")
            .arg("b")
            .arg(1000)
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert_eq!(
        cmd("EXPIRE")
            .arg("b")
            .arg(2000)
            .arg("NX")
            .query::<i64>(&mut c)
            .unwrap(),
        0
    );
    assert_eq!(
        cmd("EXPIRE")
            .arg("b")
            .arg(500)
            .arg("GT")
            .query::<i64>(&mut c)
            .unwrap(),
        0
    );
    assert_eq!(
        cmd("EXPIRE")
            .arg("b")
            .arg(500)
            .arg("LT")
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    let ttl: i64 = cmd("TTL").arg("b").query(&mut c).unwrap();
    assert!((499..=500).contains(&ttl), "{ttl}");
    assert!(cmd("PTTL").arg("b").query::<i64>(&mut c).unwrap() > 498_000);
    let at: i64 = cmd("EXPIRETIME").arg("b").query(&mut c).unwrap();
    assert!(at > 1_700_000_000);
    assert_eq!(
        cmd("PEXPIRE")
            .arg("other")
            .arg(150)
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    assert_eq!(cmd("PERSIST").arg("b").query::<i64>(&mut c).unwrap(), 1);
    assert_eq!(cmd("PERSIST").arg("b").query::<i64>(&mut c).unwrap(), 0);
    let _: () = cmd("SELECT").arg(2).query(&mut c).unwrap();
    assert_eq!(
        cmd("PEXPIREAT")
            .arg("b")
            .arg(4_000_000_000_000u64)
            .query::<i64>(&mut c)
            .unwrap(),
        1
    );
    let info: String = cmd("INFO").arg("keyspace").query(&mut c).unwrap();
    assert!(info.contains("db2:keys=1,expires=1"), "{info}");
    // A key whose time passed is gone, whether read or not.
    std::thread::sleep(Duration::from_millis(400));
    let _: () = cmd("SELECT").arg(0).query(&mut c).unwrap();
    assert_eq!(cmd("EXISTS").arg("other").query::<i64>(&mut c).unwrap(), 0);
    assert_eq!(
        cmd("EXPIRE").arg("b").arg(-1).query::<i64>(&mut c).unwrap(),
        1
    );
    assert_eq!(
        cmd("EXISTS").arg("b").query::<i64>(&mut c).unwrap(),
        0,
        "a past time deletes"
    );
    // Restart: db2's copy keeps its expiry time and its group.
    s.kill9();
    let s = Server::start(dir.path(), &[]);
    let mut c = s.conn();
    let _: () = cmd("SELECT").arg(2).query(&mut c).unwrap();
    assert_eq!(
        cmd("PEXPIRETIME").arg("b").query::<i64>(&mut c).unwrap(),
        4_000_000_000_000
    );
    assert_eq!(cmd("XLEN").arg("b").query::<i64>(&mut c).unwrap(), 5);
    let pending: Value = cmd("XPENDING").arg("b").arg("g").query(&mut c).unwrap();
    let Value::Array(p) = pending else { panic!() };
    assert_eq!(p[0], Value::Int(2));
}

#[test]
fn client_reply_and_pause() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    // REPLY OFF silences until ON; SKIP silences the next command only.
    let text = talk(
        s.addr,
        b"CLIENT REPLY OFF\r\nPING\r\nCLIENT REPLY ON\r\nECHO a\r\nCLIENT REPLY SKIP\r\nECHO b\r\nECHO c\r\n",
    );
    assert_eq!(text, "+OK\r\n$1\r\na\r\n$1\r\nc\r\n");
    // PAUSE WRITE holds writes, not reads, until it ends or UNPAUSE.
    let mut c = s.conn();
    let _: () = cmd("CLIENT")
        .arg("PAUSE")
        .arg(400)
        .arg("WRITE")
        .query(&mut c)
        .unwrap();
    let mut other = s.conn();
    let t = Instant::now();
    assert_eq!(cmd("XLEN").arg("s").query::<i64>(&mut other).unwrap(), 0);
    assert!(t.elapsed() < Duration::from_millis(300), "a read waited");
    let _: String = cmd("XADD")
        .arg("s")
        .arg("*")
        .arg("f")
        .arg("v")
        .query(&mut other)
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(350),
        "a write did not wait"
    );
    // Under PAUSE WRITE, CLIENT UNPAUSE (not a write) ends it early. (Under
    // PAUSE ALL, Redis 7.0 holds UNPAUSE too, and so does Brook.)
    let _: () = cmd("CLIENT")
        .arg("PAUSE")
        .arg(10_000)
        .arg("WRITE")
        .query(&mut c)
        .unwrap();
    let h = std::thread::spawn(move || {
        let t = Instant::now();
        let _: String = cmd("XADD")
            .arg("s")
            .arg("*")
            .arg("f")
            .arg("v")
            .query(&mut other)
            .unwrap();
        t.elapsed()
    });
    std::thread::sleep(Duration::from_millis(200));
    let _: () = cmd("CLIENT").arg("UNPAUSE").query(&mut c).unwrap();
    let waited = h.join().unwrap();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

/// Threads of the process named `name` (as `/proc` shows it, cut to 15
/// bytes).
fn threads_named(pid: u32, name: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|c| c.trim() == name)
        .count()
}

#[test]
fn io_threads_one_or_several_serve_alike() {
    for (threads, workers) in [("1", 0), ("3", 3)] {
        let dir = tempfile::tempdir().unwrap();
        let s = Server::start(
            dir.path(),
            &["--io-threads", threads, "--appendfsync", "always"],
        );
        // One thread serves every client on the process's main thread;
        // more are a pool of workers.
        assert_eq!(
            threads_named(s.child.id(), "tokio-rt-worker"),
            workers,
            "io-threads {threads}"
        );
        let mut c = s.conn();
        let v: Vec<String> = cmd("CONFIG")
            .arg("GET")
            .arg("io-threads")
            .query(&mut c)
            .unwrap();
        assert_eq!(v, ["io-threads", threads]);
        // A blocked pop is served by another connection's push.
        let addr = s.addr;
        let waiter = std::thread::spawn(move || {
            let mut w = redis::Client::open(format!("redis://{addr}/"))
                .unwrap()
                .get_connection()
                .unwrap();
            cmd("BLPOP")
                .arg("q")
                .arg(5)
                .query::<Option<(String, String)>>(&mut w)
                .unwrap()
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while cmd("INFO")
            .arg("clients")
            .query::<String>(&mut c)
            .unwrap()
            .contains("blocked_clients:0")
        {
            assert!(Instant::now() < deadline, "BLPOP never blocked");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            cmd("LPUSH")
                .arg("q")
                .arg("job")
                .query::<i64>(&mut c)
                .unwrap(),
            1
        );
        assert_eq!(
            waiter.join().unwrap(),
            Some(("q".to_string(), "job".to_string()))
        );
        // A client killed while blocked is closed at once.
        let mut blocked = s.conn();
        let id: i64 = cmd("CLIENT").arg("ID").query(&mut blocked).unwrap();
        let killed = std::thread::spawn(move || {
            let started = Instant::now();
            let r = cmd("BLPOP").arg("none").arg(0).query::<Value>(&mut blocked);
            (r.is_err(), started.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query::<i64>(&mut c)
                .unwrap(),
            1
        );
        let (closed, waited) = killed.join().unwrap();
        assert!(closed, "a killed blocked client got a reply");
        assert!(waited < Duration::from_secs(10));
        // Appends under always are acknowledged and kept.
        for i in 0..20 {
            let _: String = cmd("XADD")
                .arg("s")
                .arg("*")
                .arg("i")
                .arg(i)
                .query(&mut c)
                .unwrap();
        }
        assert_eq!(cmd("XLEN").arg("s").query::<i64>(&mut c).unwrap(), 20);
        assert_eq!(cmd("LLEN").arg("q").query::<i64>(&mut c).unwrap(), 0);
    }
}
