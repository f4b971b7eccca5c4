//! `brook verify` and `brook dump` on a data directory.

mod common;

use common::server::Server;
use redis::cmd;

use std::process::Command;

use brook::storage::{FsIo, Store};
use brook::{FsyncPolicy, StoreConfig};
use common::small_cfg;

fn brook(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_brook"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn verify_and_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap().to_string();
    let cfg = StoreConfig {
        log: small_cfg(FsyncPolicy::No),
        max_open_logs: 4,
    };
    {
        let store = Store::open(FsIo::shared(), &dir, cfg.clone()).unwrap();
        for name in ["a", "b"] {
            let log = store.log(name).unwrap();
            for k in 1..=200u128 {
                log.append(1, k, format!("v\"{k}\"\n").as_bytes()).unwrap();
            }
        }
        // A running store holds the lock: both tools refuse.
        let (code, _, err) = brook(&["verify", &dir]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("is a server running"), "{err}");
        let (code, _, err) = brook(&["dump", &dir, "a", "--log"]);
        assert_eq!(code, 2);
        assert!(err.contains("locked by another process"), "{err}");
    }
    let (code, out, _) = brook(&["verify", &dir]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("2 logs") && out.contains("400 records") && out.contains("0 problems"),
        "{out}"
    );

    let (code, out, _) = brook(&["dump", &dir, "a", "--log", "--from", "198"]);
    assert_eq!(code, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        lines[0],
        r#"{"key":"0xc6","kind":1,"len":7,"payload":"v\"198\"\u000a"}"#
    );
    let (_, out, _) = brook(&["dump", &dir, "b", "--log", "--count", "5"]);
    assert_eq!(out.lines().count(), 5);
    let (code, _, err) = brook(&["dump", &dir, "nope", "--log"]);
    assert_eq!(code, 2);
    assert!(err.contains("no log named"), "{err}");

    // Damage a sealed segment of log a: verify finds it.
    let log_dir = tmp.path().join("logs").join("a");
    let mut segs: Vec<_> = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    segs.sort();
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    bytes[92] ^= 0x40; // inside the first record's payload
    std::fs::write(&segs[0], bytes).unwrap();
    let (code, out, _) = brook(&["verify", &dir]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("problem: checksum mismatch"), "{out}");
    // And dump reports it rather than printing garbage.
    let (code, _, err) = brook(&["dump", &dir, "a", "--log"]);
    assert_eq!(code, 1);
    assert!(err.contains("checksum mismatch"), "{err}");
}

#[test]
fn dump_prints_a_key_of_a_stopped_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap().to_string();
    let s = Server::start(tmp.path(), &[]);
    let mut c = s.conn();
    for i in 1..=5 {
        let _: String = cmd("XADD")
            .arg("events")
            .arg(format!("{i}-0"))
            .arg("f")
            .arg(format!("v\"{i}"))
            .query(&mut c)
            .unwrap();
    }
    let _: i64 = cmd("RPUSH")
        .arg("jobs")
        .arg("a")
        .arg("b\n")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("SET").arg("cp").arg("3-0").query(&mut c).unwrap();
    // A live server holds the directory: dump refuses.
    let (code, _, err) = brook(&["dump", &dir, "events"]);
    assert_eq!(code, 2);
    assert!(err.contains("locked by another process"), "{err}");
    assert!(s.terminate().success());

    let (code, out, _) = brook(&["dump", &dir, "events", "--from", "2", "--count", "2"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "{\"id\":\"2-0\",\"fields\":{\"f\":\"v\\\"2\"}}\n{\"id\":\"3-0\",\"fields\":{\"f\":\"v\\\"3\"}}\n"
    );
    let (_, out, _) = brook(&["dump", &dir, "events"]);
    assert_eq!(out.lines().count(), 5);
    let (_, out, _) = brook(&["dump", &dir, "jobs"]);
    assert_eq!(
        out,
        "{\"index\":0,\"item\":\"a\"}\n{\"index\":1,\"item\":\"b\\u000a\"}\n"
    );
    let (_, out, _) = brook(&["dump", &dir, "cp"]);
    assert_eq!(out, "{\"string\":\"3-0\"}\n");
    let (code, _, err) = brook(&["dump", &dir, "nokey"]);
    assert_eq!(code, 2);
    assert!(err.contains("no key"), "{err}");
    let (code, _, _) = brook(&["dump", &dir, "events", "--from", "x"]);
    assert_eq!(code, 2);
}

#[test]
fn verify_decodes_the_engine_records() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap().to_string();
    let s = Server::start(tmp.path(), &[]);
    let mut c = s.conn();
    let _: String = cmd("XADD")
        .arg("e")
        .arg("*")
        .arg("f")
        .arg("v")
        .query(&mut c)
        .unwrap();
    let _: () = cmd("XGROUP")
        .arg("CREATE")
        .arg("e")
        .arg("g")
        .arg("0")
        .query(&mut c)
        .unwrap();
    let _: i64 = cmd("LPUSH").arg("q").arg("a").query(&mut c).unwrap();
    assert!(s.terminate().success());
    let (code, out, _) = brook(&["verify", &dir]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 problems"), "{out}");

    // A journal record with a good CRC whose ops do not decode, and one of a
    // kind the journal does not have: the storage checks pass, the decoding
    // does not.
    {
        let store = Store::open(FsIo::shared(), &dir, StoreConfig::default()).unwrap();
        let log = store.log("memory").unwrap();
        let next = log.last_key().unwrap_or(0) + 1;
        log.append(1, next, &[0x05, 0xff, 0xff]).unwrap();
        log.append(9, next + 1, b"").unwrap();
        log.sync().unwrap();
    }
    let (code, out, _) = brook(&["verify", &dir]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("2 problems"), "{out}");
    assert!(
        out.contains("(kind 1) does not decode as a record of log memory")
            && out.contains("(kind 9) does not decode as a record of log memory"),
        "{out}"
    );
}
