//! Arbitrary argument vectors into command parsing and dispatch, on one
//! client of a server whose engine sits on the simulated disk. No command
//! panics, and every reply, encoded in the client's protocol (HELLO 3
//! switches it), is valid RESP: one complete frame, or one per channel for the
//! (UN)SUBSCRIBE family.
//!
//! Arguments are drawn mostly from a dictionary of names, keywords, IDs and
//! numbers the commands know, so that inputs get past the syntax checks, and
//! otherwise are arbitrary bytes. Outcomes that act on the process (sleep,
//! shutdown, reload, block) are not carried out: their reply frames, if
//! any, are checked all the same.
#![no_main]

use std::net::SocketAddr;
use std::sync::Arc;

use brook::engine::keyspace::{Engine, EngineConfig};
use brook::resp::reply::parse_reply;
use brook::server::client::{ClientInfo, ClientState};
use brook::server::cmd::args::{Ctx, Outcome};
use brook::server::cmd::table::{COMMANDS, execute};
use brook::server::config::Config;
use brook::server::shared::Shared;
use brook::storage::sim::SimIo;
use brook::{FsyncPolicy, LogConfig, StoreConfig};
use bytes::Bytes;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

const WORDS: &[&str] = &[
    "k",
    "k2",
    "s",
    "s2",
    "l",
    "g",
    "g2",
    "c",
    "c2",
    "ch",
    "ch*",
    "0",
    "1",
    "2",
    "3",
    "10",
    "-1",
    "-2",
    "100",
    "0-0",
    "0-1",
    "1-0",
    "1-1",
    "1-*",
    "5-5",
    "$",
    ">",
    "+",
    "-",
    "*",
    "=",
    "~",
    "(1-0",
    "COUNT",
    "BLOCK",
    "STREAMS",
    "MAXLEN",
    "MINID",
    "LIMIT",
    "NOMKSTREAM",
    "IFTOP",
    "IFEMPTY",
    "GROUP",
    "MKSTREAM",
    "ENTRIESREAD",
    "CREATE",
    "DESTROY",
    "SETID",
    "CREATECONSUMER",
    "DELCONSUMER",
    "IDLE",
    "TIME",
    "RETRYCOUNT",
    "FORCE",
    "JUSTID",
    "LASTID",
    "NOACK",
    "STREAM",
    "GROUPS",
    "CONSUMERS",
    "FULL",
    "HELP",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "GET",
    "SET",
    "KEEPTTL",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "RANK",
    "MAXLEN",
    "MATCH",
    "TYPE",
    "list",
    "string",
    "stream",
    "GETNAME",
    "SETNAME",
    "LIST",
    "INFO",
    "ID",
    "KILL",
    "REPLY",
    "OFF",
    "SKIP",
    "ON",
    "UNBLOCK",
    "ERROR",
    "TIMEOUT",
    "PAUSE",
    "UNPAUSE",
    "WRITE",
    "RESETSTAT",
    "appendfsync",
    "notify-keyspace-events",
    "KEA",
    "Elx",
    "maxclients",
    "timeout",
    "requirepass",
    "client-output-buffer-limit",
    "ENCODING",
    "REFCOUNT",
    "IDLETIME",
    "FREQ",
    "NUMSUB",
    "NUMPAT",
    "CHANNELS",
    "SHARDCHANNELS",
    "FSYNC",
    "always",
    "no",
    "everysec",
    "MAXAGE",
    "MAXBYTES",
    "SEGMENT-BYTES",
    "AUTH",
    "SETINFO",
    "lib-name",
    "DOCS",
    "LOG",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "1.5",
    "-0.5",
    "inf",
    "nan",
    "1e308",
    "",
    "3",
];

fn arg(u: &mut Unstructured) -> Result<Bytes> {
    Ok(if u.ratio(3, 4)? {
        Bytes::from_static(u.choose(WORDS)?.as_bytes())
    } else {
        let len = u.int_in_range(0..=24)?;
        Bytes::copy_from_slice(u.bytes(len)?)
    })
}

fn command(u: &mut Unstructured) -> Result<Vec<Bytes>> {
    let mut args = Vec::new();
    if u.ratio(1, 30)? {
        args.push(arg(u)?);
    } else {
        let name = COMMANDS[u.choose_index(COMMANDS.len())?].name;
        let name = if u.ratio(1, 2)? {
            name.to_ascii_lowercase()
        } else {
            name.to_string()
        };
        args.push(Bytes::from(name));
    }
    for _ in 0..u.int_in_range(0..=9)? {
        args.push(arg(u)?);
    }
    Ok(args)
}

/// The frame an outcome replies with, if any.
fn reply_of(out: &Outcome) -> Option<&brook::resp::frame::Frame> {
    match out {
        Outcome::Reply(f) | Outcome::Durable(f, _) | Outcome::Close(f) | Outcome::Sleep(_, f) => {
            Some(f)
        }
        Outcome::Block(_) | Outcome::Shutdown | Outcome::Reload => None,
    }
}

fn run(data: &[u8]) -> Result<()> {
    let mut u = Unstructured::new(data);
    let sim = SimIo::new();
    let cfg = EngineConfig {
        store: StoreConfig {
            log: LogConfig {
                fsync: FsyncPolicy::No,
                segment_bytes: 4096,
                ..LogConfig::default()
            },
            ..StoreConfig::default()
        },
        ..EngineConfig::default()
    };
    let Ok(engine) = Engine::open_with(sim, "/d", cfg) else {
        panic!("the engine does not open on an empty simulated disk");
    };
    let shared = Arc::new(Shared::new(engine, Config::default()));
    let addr = SocketAddr::from(([127, 0, 0, 1], 40000));
    let info = Arc::new(ClientInfo::new(1, addr, addr));
    let mut client = ClientState::new(info, true);
    for _ in 0..64 {
        if u.is_empty() {
            break;
        }
        let args = command(&mut u)?;
        let engine = shared.engine();
        let mut ctx = Ctx {
            shared: &shared,
            engine: &engine,
            client: &mut client,
            in_exec: false,
            now_ms: 1_700_000_000_000,
            clock: std::time::Instant::now(),
            ready: Vec::new(),
            batch: None,
        };
        let out = execute(&mut ctx, args.clone());
        let ready = std::mem::take(&mut ctx.ready);
        if !ready.is_empty() {
            shared.blocked.serve(&shared, &engine, ready);
        }
        drop(ctx);
        if let Some(f) = reply_of(&out) {
            let bytes = f.to_bytes(client.protocol);
            // One frame, or several for (UN)SUBSCRIBE and its kin, which
            // confirm each channel with a reply of its own.
            let mut at = 0;
            while at < bytes.len() {
                match parse_reply(&bytes[at..]) {
                    Ok(Some((_, used))) => at += used,
                    other => panic!("{args:?} replied {bytes:?}, not RESP at {at}: {other:?}"),
                }
            }
            assert!(!bytes.is_empty(), "{args:?} replied nothing");
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
