//! What every connection shares: the engine, the settings, the clients,
//! the statistics, the blocked readers and the shutdown signal.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{Notify, watch};

use super::blocking::Blocked;
use super::client::ClientInfo;
use super::cmd::table::COMMANDS;
use super::config::Config;
use crate::engine::keyspace::Engine;
use crate::engine::pubsub::PubSub;

/// Locks a mutex, ignoring poisoning (no invariant spans a panic here).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs blocking work (disk I/O) from a connection or the listener. On a
/// multi-threaded runtime the worker hands its other tasks over first
/// (`block_in_place`); on a one-thread runtime there is no one to hand
/// them to, so the work runs in place, as redis-server's one thread does.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Per-command counters (INFO commandstats).
#[derive(Default)]
pub struct CmdStats {
    /// Calls that ran.
    pub calls: AtomicU64,
    /// Microseconds spent in them.
    pub usec: AtomicU64,
    /// Calls refused before running (arity, auth).
    pub rejected: AtomicU64,
    /// Calls that ran and answered an error.
    pub failed: AtomicU64,
}

/// Server-wide counters (INFO stats).
#[derive(Default)]
pub struct Stats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections refused (maxclients, protected mode).
    pub rejected_connections: AtomicU64,
    /// Commands processed.
    pub commands: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Error replies sent.
    pub error_replies: AtomicU64,
    /// Clients disconnected for exceeding their output-buffer limit.
    pub output_limit_disconnections: AtomicU64,
    /// One row per entry of the command table.
    pub per_command: Vec<CmdStats>,
}

/// Keys watched by WATCH: a version per key, bumped by every write to it.
#[derive(Default)]
pub struct Watched {
    /// (db, key) → (version, watchers).
    keys: Mutex<HashMap<(usize, Bytes), (u64, usize)>>,
    /// Bumped by FLUSHALL, FLUSHDB, SWAPDB and DEBUG RELOAD, which touch
    /// every key.
    pub epoch: AtomicU64,
    /// Watchers in total; writes skip the map while it is 0.
    count: AtomicU64,
}

impl Watched {
    /// Starts watching a key; returns its version.
    pub fn watch(&self, db: usize, key: &Bytes) -> u64 {
        self.count.fetch_add(1, Ordering::AcqRel);
        let mut m = lock(&self.keys);
        let e = m.entry((db, key.clone())).or_insert((0, 0));
        e.1 += 1;
        e.0
    }

    /// Stops watching a key.
    pub fn unwatch(&self, db: usize, key: &Bytes) {
        self.count.fetch_sub(1, Ordering::AcqRel);
        let mut m = lock(&self.keys);
        if let Some(e) = m.get_mut(&(db, key.clone())) {
            e.1 -= 1;
            if e.1 == 0 {
                m.remove(&(db, key.clone()));
            }
        }
    }

    /// The current version of a watched key.
    pub fn version(&self, db: usize, key: &Bytes) -> u64 {
        lock(&self.keys).get(&(db, key.clone())).map_or(0, |e| e.0)
    }

    /// Marks a key written.
    pub fn touch(&self, db: usize, key: &[u8]) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        if let Some(e) = lock(&self.keys).get_mut(&(db, Bytes::copy_from_slice(key))) {
            e.0 += 1;
        }
    }
}

/// The parameters read on every request, kept as atomics so that the hot
/// path does not copy the whole [`Config`].
#[derive(Default)]
pub struct Hot {
    /// `timeout` in seconds (0: none).
    pub timeout: AtomicU64,
    /// `client-query-buffer-limit`.
    pub query_limit: AtomicU64,
    /// `client-output-buffer-limit` for normal clients: hard, soft, seconds.
    pub out_hard: AtomicU64,
    /// Soft limit.
    pub out_soft: AtomicU64,
    /// Seconds over the soft limit allowed.
    pub out_secs: AtomicU64,
    /// `notify-keyspace-events` as flags ([`super::events`]).
    pub events: AtomicU32,
}

impl Hot {
    fn load(&self, cfg: &Config) {
        let r = Ordering::Relaxed;
        self.timeout.store(cfg.number("timeout"), r);
        self.query_limit
            .store(cfg.number("client-query-buffer-limit"), r);
        let (hard, soft, secs) = cfg.output_limits().classes[0];
        self.out_hard.store(hard, r);
        self.out_soft.store(soft, r);
        self.out_secs.store(secs, r);
        let events = cfg.get("notify-keyspace-events").unwrap_or_default();
        self.events
            .store(super::events::parse(events).unwrap_or(0), r);
    }
}

/// The state all connections share.
pub struct Shared {
    /// `None` only while DEBUG RELOAD reopens it, under the write lock.
    engine: RwLock<Option<Arc<Engine>>>,
    /// The parameters (CONFIG GET / SET); change them with `set_config`.
    config: Mutex<Config>,
    /// The hot parameters, copied from `config`.
    pub hot: Hot,
    /// Connected clients by ID.
    pub clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_client_id: AtomicU64,
    /// Counters.
    pub stats: Stats,
    /// Readers blocked in XREAD / XREADGROUP.
    pub blocked: Blocked,
    /// Keys under WATCH.
    pub watched: Watched,
    /// Pub/Sub subscriptions.
    pub pubsub: PubSub,
    /// Becomes true when the server is shutting down.
    pub shutdown: watch::Sender<bool>,
    /// When the server started.
    pub started: Instant,
    /// The port it listens on (the real one when 0 was asked).
    pub port: AtomicU64,
    /// Set while CLIENT PAUSE holds: (until, writes only).
    pub pause: Mutex<Option<(Instant, bool)>>,
    /// True while `pause` may be set: read first, without the lock.
    pub paused: std::sync::atomic::AtomicBool,
    /// Woken when a pause ends early (CLIENT UNPAUSE).
    pub unpause: Notify,
    /// Commands run under its read side, EXEC under its write side, so
    /// that no other command runs in the middle of a transaction.
    pub exec: RwLock<()>,
}

impl Shared {
    /// Shared state around an open engine.
    pub fn new(engine: Engine, config: Config) -> Shared {
        let (shutdown, _) = watch::channel(false);
        let stats = Stats {
            per_command: COMMANDS.iter().map(|_| CmdStats::default()).collect(),
            ..Stats::default()
        };
        let shared = Shared {
            engine: RwLock::new(Some(Arc::new(engine))),
            hot: Hot::default(),
            config: Mutex::new(config),
            clients: Mutex::new(BTreeMap::new()),
            next_client_id: AtomicU64::new(1),
            stats,
            blocked: Blocked::default(),
            watched: Watched::default(),
            pubsub: PubSub::default(),
            shutdown,
            started: Instant::now(),
            port: AtomicU64::new(0),
            pause: Mutex::new(None),
            paused: std::sync::atomic::AtomicBool::new(false),
            unpause: Notify::new(),
            exec: RwLock::new(()),
        };
        let cfg = lock(&shared.config).clone();
        shared.set_config(cfg);
        shared
    }

    /// Calls `f` with the parameters, without copying them (the accept
    /// path reads two or three of them per connection).
    pub fn with_config<R>(&self, f: impl FnOnce(&Config) -> R) -> R {
        f(&lock(&self.config))
    }

    /// Installs new parameter values.
    pub fn set_config(&self, cfg: Config) {
        self.hot.load(&cfg);
        let (hard, soft, secs) = cfg.output_limits().classes[2];
        let limits = &self.pubsub.limits;
        limits.hard.store(hard, Ordering::Relaxed);
        limits.soft.store(soft, Ordering::Relaxed);
        limits.soft_secs.store(secs, Ordering::Relaxed);
        *lock(&self.config) = cfg;
    }

    /// The engine. Callers hold it only while a command runs, never across
    /// an `.await`, so that DEBUG RELOAD can close it.
    pub fn engine(&self) -> Arc<Engine> {
        match &*self.engine.read().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => e.clone(),
            None => {
                // Only a failed reopen leaves no engine, and that exits.
                tracing::error!("the engine is gone after a failed DEBUG RELOAD; exiting");
                std::process::exit(1)
            }
        }
    }

    /// Syncs and closes the engine, then installs what `reopen` opens.
    /// Waits for commands holding the old engine to finish.
    pub fn reload_engine(
        &self,
        reopen: impl FnOnce() -> Result<Engine, crate::error::EngineError>,
    ) -> Result<(), crate::error::EngineError> {
        let mut slot = self.engine.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = slot.take() {
            old.quiesce()?;
            let mut old = old;
            // Others drop their clones when their command ends.
            let deadline = Instant::now() + std::time::Duration::from_secs(30);
            loop {
                match Arc::try_unwrap(old) {
                    Ok(e) => {
                        drop(e);
                        break;
                    }
                    Err(a) if Instant::now() < deadline => {
                        old = a;
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                    Err(a) => {
                        *slot = Some(a);
                        return Err(crate::error::EngineError::Storage(
                            crate::error::StorageError::Closed {
                                dir: std::path::PathBuf::from("engine busy"),
                            },
                        ));
                    }
                }
            }
        }
        match reopen() {
            Ok(e) => {
                *slot = Some(Arc::new(e));
                self.watched.epoch.fetch_add(1, Ordering::AcqRel);
                Ok(())
            }
            Err(e) => {
                tracing::error!("DEBUG RELOAD could not reopen the data directory: {e}; exiting");
                std::process::exit(1)
            }
        }
    }

    /// A new client ID.
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A clone of the current settings.
    pub fn config(&self) -> Config {
        lock(&self.config).clone()
    }

    /// True once shutdown started.
    pub fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}
