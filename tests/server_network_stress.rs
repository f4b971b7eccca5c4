//! The network under stress, against one server: 10,000 concurrent
//! connections (or as many as the fd limit allows once raised), garbage
//! bytes, slowloris clients that send one byte at a time, clients that never
//! read their replies, and clients that disconnect in the middle of a
//! blocking command or of MULTI. Throughout, a normal client keeps being
//! served; afterwards the server is up, holds no stale blocked client or
//! connection, and its peak RSS (VmHWM) stays bounded.
//!
//! `BROOK_STRESS_CONNS` (default 10000), `BROOK_SLOWLORIS_MS` (the delay
//! between two bytes, default 20).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Rng;
use common::server::Server;
use redis::cmd;

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The server's `VmHWM` (peak RSS) and `VmRSS`, in kB.
fn rss_kb(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn info_field(c: &mut redis::Connection, section: &str, name: &str) -> u64 {
    let info: String = cmd("INFO").arg(section).query(c).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// Raises this process's soft limit on open files to its hard limit.
fn raise_own_fd_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let cur = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: cur.maximum,
            maximum: cur.maximum,
        },
    );
    getrlimit(Resource::Nofile).current.unwrap_or(1024)
}

/// A client doing XADD and XLEN in a loop until told to stop; counts its
/// round trips, so each phase can check it was served during it.
struct Bystander {
    done: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Bystander {
    fn start(s: &Server) -> Bystander {
        let mut c = s.conn();
        let done = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, st) = (done.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let _: String = cmd("XADD")
                    .arg("by")
                    .arg("*")
                    .arg("f")
                    .arg("v")
                    .query(&mut c)
                    .unwrap();
                let _: u64 = cmd("XLEN").arg("by").query(&mut c).unwrap();
                d.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Bystander { done, stop, thread }
    }

    /// Round trips so far.
    fn count(&self) -> u64 {
        self.done.load(Ordering::SeqCst)
    }

    /// Asserts that the bystander completed `n` round trips since `mark`.
    fn served_since(&self, mark: u64, n: u64, during: &str) {
        let got = self.count() - mark;
        assert!(
            got >= n,
            "the bystander was served {got} times during {during}"
        );
    }

    /// Waits until the bystander completes `n` more round trips.
    fn served(&self, n: u64, during: &str) {
        let want = self.done.load(Ordering::SeqCst) + n;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.done.load(Ordering::SeqCst) < want {
            assert!(
                Instant::now() < deadline,
                "the bystander was not served during {during}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[test]
fn the_server_survives_a_hostile_network() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(tmp.path(), &["--maxclients", "20000"]);
    let pid = s.child.id();
    let by = Bystander::start(&s);
    let mut c = s.conn();
    let mut report = Vec::new();

    // 1. Many connections at once, each with a PING answered.
    let limit = raise_own_fd_limit();
    let want: usize = env_or("BROOK_STRESS_CONNS", 10_000);
    let n = want.min(limit.saturating_sub(200) as usize);
    let started = Instant::now();
    let mark = by.count();
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(TcpStream::connect(s.addr).unwrap());
    }
    for t in &mut conns {
        t.write_all(b"PING\r\n").unwrap();
    }
    let mut buf = [0u8; 64];
    for t in &mut conns {
        t.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let k = t.read(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"+PONG\r\n");
    }
    by.served_since(mark, 5, "the connection flood");
    let connected = info_field(&mut c, "clients", "connected_clients");
    assert!(connected >= n as u64, "{connected} < {n}");
    report.push(format!(
        "{n} concurrent connections (fd limit {limit}), each answered, in {:.1?}; RSS {} kB",
        started.elapsed(),
        rss_kb(pid).1
    ));
    drop(conns);

    // 2. Garbage bytes on 200 connections.
    let mut rng = Rng(0x9e3779b97f4a7c15);
    for _ in 0..200 {
        let mut t = TcpStream::connect(s.addr).unwrap();
        let junk: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
        let _ = t.write_all(&junk);
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        match t.read(&mut buf) {
            // Error replies, or the close after a protocol error.
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("random bytes got neither a reply nor a close: {e}"),
        }
    }
    by.served(5, "the garbage");
    report.push(
        "200 connections sending 4 kB of random bytes: each got error replies or was closed".into(),
    );

    // 3. Slowloris: 100 clients send ECHO one byte at a time.
    let delay = Duration::from_millis(env_or("BROOK_SLOWLORIS_MS", 20));
    let req = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n";
    let mut slow: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    let started = Instant::now();
    let mark = by.count();
    for &b in req.iter() {
        for t in &mut slow {
            t.write_all(&[b]).unwrap();
        }
        std::thread::sleep(delay);
    }
    by.served_since(mark, 5, "the slowloris clients");
    for t in &mut slow {
        t.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let k = t.read(&mut buf).unwrap();
        assert_eq!(&buf[..k], b"$5\r\nhello\r\n");
    }
    report.push(format!(
        "100 slowloris clients, one byte every {delay:?} ({:.1?} a request): all answered, others served meanwhile",
        started.elapsed()
    ));
    drop(slow);

    // 4. Clients that never read: 10 connections pipelining large replies.
    let _: () = cmd("SET")
        .arg("big")
        .arg("x".repeat(1 << 20))
        .query(&mut c)
        .unwrap();
    let hogs: Vec<_> = (0..10)
        .map(|_| {
            let addr = s.addr;
            std::thread::spawn(move || {
                let mut t = TcpStream::connect(addr).unwrap();
                t.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
                let req = b"GET big\r\n".repeat(64);
                let mut sent = 0u64;
                while sent < 100_000 && t.write_all(&req).is_ok() {
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    by.served(5, "the clients that never read");
    for h in hogs {
        assert!(
            h.join().unwrap() < 100_000,
            "the server kept reading a client that never reads"
        );
    }
    report.push(format!(
        "10 clients pipelining GET of a 1 MB value, never reading: stopped being read; RSS {} kB",
        rss_kb(pid).1
    ));

    // 5. Disconnects in the middle of blocking commands and of MULTI.
    for i in 0..100 {
        let mut t = TcpStream::connect(s.addr).unwrap();
        let req: &[u8] = match i % 3 {
            0 => b"BLPOP nolist 0\r\n",
            1 => b"XREAD BLOCK 0 STREAMS nostream $\r\n",
            _ => b"MULTI\r\nLPUSH q a\r\nXADD s * f v\r\n",
        };
        t.write_all(req).unwrap();
        if i % 3 == 2 {
            t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let _ = t.read(&mut buf);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let blocked = info_field(&mut c, "clients", "blocked_clients");
        let connected = info_field(&mut c, "clients", "connected_clients");
        if blocked == 0 && connected <= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{blocked} blocked, {connected} connected left over"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The aborted transactions did nothing.
    assert_eq!(
        cmd("EXISTS")
            .arg("q")
            .arg("s")
            .query::<u64>(&mut c)
            .unwrap(),
        0
    );
    by.served(5, "the disconnects");
    report.push("100 clients gone in the middle of BLPOP, XREAD BLOCK or MULTI: no blocked client or connection left, no queued command run".into());

    by.stop.store(true, Ordering::SeqCst);
    by.thread.join().unwrap();
    let (peak, now) = rss_kb(pid);
    report.push(format!(
        "server peak RSS (VmHWM) {peak} kB, {now} kB at the end"
    ));
    eprintln!("network stress:\n  {}", report.join("\n  "));
    assert!(peak < 1 << 20, "peak RSS {peak} kB");
}
