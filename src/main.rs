//! The `brook` binary: `serve` (the server), `verify` and `dump`.

use std::path::PathBuf;
use std::process::ExitCode;

use brook::EngineError;
use brook::engine::check::RecordCheck;
use brook::engine::id::{RangeEnd, StreamId, parse_range_bound};
use brook::engine::keyspace::{Engine, EngineConfig, KeyType};
use brook::server::config::Config;
use brook::server::listener;
use brook::storage::store::{LOCK_FILE, LOGS_DIR};
use brook::storage::verify::{VerifyReport, verify_log_with};
use brook::storage::{FsIo, Store};
use brook::{LogConfig, StoreConfig};
use clap::{Parser, Subcommand};

/// The server allocates and frees many small buffers per request (its
/// arguments, each Pub/Sub message), across threads; mimalloc does that
/// with less work than glibc's allocator, as jemalloc does for Redis
/// (docs/benchmarks.md).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "brook",
    version,
    about = "A persistent, log-structured streams engine"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server: `brook serve [brook.conf] [--port 6379] [--dir ./brook-data]
    /// [--appendfsync everysec] [--name value ...]` (redis-server's flags).
    Serve {
        /// An optional redis.conf-style file, then `--name value` flags.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check every segment and index of a stopped data directory; exits 1 on
    /// corruption.
    Verify {
        /// The data directory.
        dir: PathBuf,
    },
    /// Print a key's contents as JSON lines: a stream's entries
    /// (`{"id":..,"fields":{..}}`), a list's items, a string's value. With
    /// `--log`, KEY names a storage log and its raw records are printed.
    Dump {
        /// The data directory.
        dir: PathBuf,
        /// The key (or, with `--log`, the log's name).
        key: String,
        /// A stream: start at this ID (`1700000000000-0`, or `-`). With
        /// `--log`: the first record key (decimal or 0x hex).
        #[arg(long)]
        from: Option<String>,
        /// Print at most this many entries, items or records.
        #[arg(long)]
        count: Option<usize>,
        /// The database.
        #[arg(long, default_value_t = 0)]
        db: usize,
        /// The server's `databases` (a catalog naming a database beyond it
        /// does not open, as for the server).
        #[arg(long, default_value_t = 16)]
        databases: usize,
        /// KEY names a storage log: print its raw records.
        #[arg(long)]
        log: bool,
    },
}

fn parse_key(s: &str) -> Option<u128> {
    match s.strip_prefix("0x") {
        Some(hex) => u128::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() -> ExitCode {
    match Cli::parse().cmd {
        Cmd::Serve { args } => serve(&args),
        Cmd::Verify { dir } => verify(dir),
        Cmd::Dump {
            dir,
            key,
            from,
            count,
            db,
            databases,
            log,
        } => {
            if log {
                dump(dir, &key, from.as_deref().unwrap_or("0"), count)
            } else {
                dump_key(dir, (db, databases), &key, from.as_deref(), count)
            }
        }
    }
}

fn serve(args: &[String]) -> ExitCode {
    let cfg = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("brook serve: {e}");
            return ExitCode::from(1);
        }
    };
    let level = match cfg.get("loglevel") {
        Some("debug") => tracing::Level::DEBUG,
        Some("verbose") => tracing::Level::INFO,
        Some("warning") | Some("nothing") => tracing::Level::WARN,
        _ => tracing::Level::INFO,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    raise_fd_limit(cfg.number("maxclients").saturating_add(32));
    if cfg.flag("disable-thp") {
        // As redis-server: the flag holds for the whole process.
        if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
            tracing::warn!("transparent huge pages could not be disabled: {e}");
        }
    }
    brook::server::set_mem_allocator("mimalloc");
    // One thread serving every client, as redis-server's event loop, runs
    // on tokio's one-thread scheduler: no work-stealing queues to keep.
    let threads = cfg.number("io-threads").clamp(1, 128) as usize;
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("brook serve: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(listener::run(cfg, None)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Raises the soft limit on open files to `want` (maxclients plus room for
/// the logs), or to the hard limit if that is lower, as redis-server does at
/// start; says so when maxclients cannot be reached.
fn raise_fd_limit(want: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let cur = getrlimit(Resource::Nofile);
    let target = cur.maximum.map_or(want, |hard| want.min(hard));
    if cur.current.is_some_and(|soft| soft < target) {
        let new = Rlimit {
            current: Some(target),
            maximum: cur.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, new) {
            tracing::warn!("cannot raise the open files limit to {target}: {e}");
            return;
        }
    }
    if target < want {
        tracing::warn!(
            "open files limited to {target} (hard limit): fewer than maxclients + 32 = {want}"
        );
    }
}

fn verify(dir: PathBuf) -> ExitCode {
    let io = FsIo::shared();
    if !dir.is_dir() {
        println!(
            "no data directory at {} yet: 0 logs, nothing to check",
            dir.display()
        );
        return ExitCode::SUCCESS;
    }
    // Holding the lock proves no server is using the directory.
    let _lock = match io.lock(&dir.join(LOCK_FILE)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "brook verify: cannot lock {}: {e}; is a server running on it?",
                dir.display()
            );
            return ExitCode::from(2);
        }
    };
    let logs = dir.join(LOGS_DIR);
    let names = match io.read_dir(&logs) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("brook verify: {}: {e}", logs.display());
            return ExitCode::from(2);
        }
    };
    let mut report = VerifyReport::default();
    let max = LogConfig::default().max_record_bytes;
    let mut bar = Progress::new(names.len());
    for name in &names {
        // The storage checks, then each record decoded as the engine would.
        let mut check = RecordCheck::new(name);
        let mut decode = |kind: u8, payload: &[u8]| check.record(kind, payload);
        verify_log_with(io.as_ref(), &logs.join(name), max, &mut report, &mut decode);
        bar.step(&report);
    }
    bar.finish();
    for p in &report.problems {
        println!("problem: {p}");
    }
    println!(
        "{} logs, {} segments, {} records, {} bytes, {} problems",
        report.logs,
        report.segments,
        report.records,
        report.bytes,
        report.problems.len()
    );
    if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn dump(dir: PathBuf, name: &str, from: &str, count: Option<usize>) -> ExitCode {
    let Some(from) = parse_key(from) else {
        eprintln!("brook dump: --from {from:?} is not a number");
        return ExitCode::from(2);
    };
    let store = match Store::open(FsIo::shared(), &dir, StoreConfig::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("brook dump: {e}");
            return ExitCode::from(2);
        }
    };
    if !store.contains(name) {
        eprintln!("brook dump: no log named {name:?} in {}", dir.display());
        return ExitCode::from(2);
    }
    let result = store.log(name).and_then(|log| {
        for rec in log.iter_from(from)?.take(count.unwrap_or(usize::MAX)) {
            let rec = rec?;
            let line = format_args!(
                "{{\"key\":\"{:#x}\",\"kind\":{},\"len\":{},\"payload\":\"{}\"}}",
                rec.key,
                rec.kind,
                rec.payload.len(),
                json_bytes(&rec.payload)
            );
            if !out(line) {
                break;
            }
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("brook dump: {e}");
            ExitCode::from(1)
        }
    }
}

/// `brook verify`'s progress bar on standard error, drawn at most ten times
/// a second and only on a terminal.
struct Progress {
    total: usize,
    done: usize,
    tty: bool,
    drawn: Option<std::time::Instant>,
}

impl Progress {
    fn new(total: usize) -> Progress {
        use std::io::IsTerminal;
        Progress {
            total,
            done: 0,
            tty: std::io::stderr().is_terminal(),
            drawn: None,
        }
    }

    fn step(&mut self, report: &VerifyReport) {
        self.done += 1;
        let due = self
            .drawn
            .is_none_or(|t| t.elapsed() >= std::time::Duration::from_millis(100));
        if self.tty && (due || self.done == self.total) {
            let width = 30;
            let filled = (self.done * width).checked_div(self.total).unwrap_or(width);
            eprint!(
                "\r[{}{}] {}/{} logs, {} records, {} MB",
                "#".repeat(filled),
                ".".repeat(width - filled),
                self.done,
                self.total,
                report.records,
                report.bytes >> 20
            );
            self.drawn = Some(std::time::Instant::now());
        }
    }

    fn finish(&self) {
        if self.tty && self.drawn.is_some() {
            eprintln!();
        }
    }
}

/// Writes one line to standard output; false once it cannot (a closed
/// pipe, as with `brook dump … | head`), so that the caller stops.
fn out(line: std::fmt::Arguments) -> bool {
    use std::io::Write;
    writeln!(std::io::stdout().lock(), "{line}").is_ok()
}

/// `brook dump DIR KEY`: opens the directory as the server would (taking
/// its lock, so never beside a live server; a torn tail is recovered and
/// expired keys are removed, as at a restart) and prints the key's contents.
fn dump_key(
    dir: PathBuf,
    (db, databases): (usize, usize),
    key: &str,
    from: Option<&str>,
    count: Option<usize>,
) -> ExitCode {
    if !dir.join(LOGS_DIR).is_dir() {
        eprintln!("brook dump: no data directory at {}", dir.display());
        return ExitCode::from(2);
    }
    let from = match from.map(|f| parse_range_bound(f.as_bytes(), RangeEnd::Start)) {
        None => StreamId::MIN,
        Some(Ok(id)) => id,
        Some(Err(_)) => {
            eprintln!("brook dump: --from is not a stream ID");
            return ExitCode::from(2);
        }
    };
    let cfg = EngineConfig {
        databases,
        ..EngineConfig::default()
    };
    let engine = match Engine::open(&dir, cfg) {
        Ok(e) => e,
        Err(e) => {
            let e = e.to_string();
            eprintln!("brook dump: {}", e.strip_prefix("ERR ").unwrap_or(&e));
            return ExitCode::from(2);
        }
    };
    let key_b = key.as_bytes();
    let mut left = count.unwrap_or(usize::MAX);
    let result = (|| -> Result<bool, EngineError> {
        let stream = match engine.key_type(db, key_b)? {
            Some(KeyType::Stream) => engine.stream(db, key_b)?,
            _ => None,
        };
        if let Some(s) = stream {
            let mut next = Some(from);
            while let Some(lo) = next.filter(|_| left > 0) {
                let page = s.range(lo, StreamId::MAX, Some(left.min(1000)))?;
                next = match page.last() {
                    Some(e) if page.len() == left.min(1000) => e.id.next(),
                    _ => None,
                };
                for e in page {
                    let fields: Vec<String> = e
                        .fields
                        .iter()
                        .map(|(f, v)| format!("\"{}\":\"{}\"", json_bytes(f), json_bytes(v)))
                        .collect();
                    println!(
                        "{{\"id\":\"{}\",\"fields\":{{{}}}}}",
                        e.id,
                        fields.join(",")
                    );
                    left -= 1;
                }
            }
            return Ok(true);
        }
        let (found, _) = engine.mem(db, |tx| match tx.kind(key_b)? {
            Some(KeyType::String) => {
                let v = tx.string(key_b)?.unwrap_or_default();
                out(format_args!("{{\"string\":\"{}\"}}", json_bytes(&v)));
                Ok(true)
            }
            Some(KeyType::List) => tx.list(key_b, |l| {
                for (i, item) in l.into_iter().flatten().enumerate().take(left) {
                    let line = format_args!("{{\"index\":{i},\"item\":\"{}\"}}", json_bytes(item));
                    if !out(line) {
                        break;
                    }
                }
                true
            }),
            _ => Ok(false),
        })?;
        Ok(found)
    })();
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "brook dump: no key {key:?} in database {db} of {}",
                dir.display()
            );
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("brook dump: {e}");
            ExitCode::from(1)
        }
    }
}

/// Bytes as the inside of a JSON string: printable ASCII as is, every other
/// byte as `\u00XX` (its Latin-1 code point), so any payload prints.
fn json_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\u{b:04x}")),
        }
    }
    out
}
