//! The keyspace: numbered databases of binary-safe keys, each holding one
//! type, and the catalog that persists them.
//!
//! A key never becomes a path. Each stream gets a number when it is created
//! (`sid`), and its logs are named `x{sid:016x}` and `x{sid:016x}.m`. The
//! catalog log maps `(db, key)` to `sid`; it is written with `always`
//! before a stream's files are created and before they are removed, so a
//! directory not in the catalog is garbage from an interrupted delete (or
//! create) and is removed at open.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::codec::{self, Malformed, Reader};
use super::glob::glob_match;
use super::memory::{self, Journal, Op, Outcome, Refused, Value};
use super::settings::StreamSettings;
use super::stream::{NodeLimits, Stream};
use crate::config::{FsyncPolicy, LogConfig, StoreConfig};
use crate::error::EngineError;
use crate::storage::{Commit, Entry, FsIo, Io, Log, Store};

/// The type a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// A stream.
    Stream,
    /// A list (in memory, journaled).
    List,
    /// A string (in memory, journaled).
    String,
}

impl KeyType {
    /// The name TYPE replies with.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Stream => "stream",
            KeyType::List => "list",
            KeyType::String => "string",
        }
    }

    /// The catalog's code; only streams are in the catalog.
    fn code(self) -> u64 {
        match self {
            KeyType::Stream => 1,
            KeyType::List => 2,
            KeyType::String => 3,
        }
    }

    fn from_code(c: u64) -> Result<KeyType, Malformed> {
        match c {
            1 => Ok(KeyType::Stream),
            _ => Err(Malformed),
        }
    }
}

/// What opening the engine found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Keys holding streams.
    pub streams: u64,
    /// Entries in them.
    pub entries: u64,
    /// Bytes of torn tails cut off.
    pub torn_bytes: u64,
    /// Lists and strings replayed from the journal.
    pub memory_keys: u64,
    /// Lists and strings dropped at replay because a stream holds their key
    /// (see [`super::memory`]).
    pub memory_conflicts: u64,
}

/// Counters of the engine's open logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Open logs.
    pub logs: u64,
    /// Their segments.
    pub segments: u64,
    /// Their bytes on disk.
    pub disk_bytes: u64,
    /// fdatasync rounds they made.
    pub fsyncs: u64,
    /// The longest of their last fdatasync durations, in microseconds.
    pub last_fsync_micros: u64,
}

/// Settings of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Settings of the data directory and the default settings of each log.
    pub store: StoreConfig,
    /// Number of databases (Redis's `databases`). Default 16.
    pub databases: usize,
    /// Redis's stream node limits, which `~` trimming follows.
    pub node_limits: NodeLimits,
    /// Defaults of the per-stream settings; `fsync` and `segment_bytes`
    /// left `None` take `store.log`'s.
    pub stream_defaults: StreamSettings,
    /// The journal of lists and strings is compacted once it has grown by
    /// this percentage over its size after the last compaction (Redis's
    /// `auto-aof-rewrite-percentage`; 0 never)…
    pub journal_rewrite_pct: u64,
    /// …and is at least this many bytes (`auto-aof-rewrite-min-size`).
    pub journal_rewrite_min: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            store: StoreConfig::default(),
            databases: 16,
            node_limits: NodeLimits::default(),
            stream_defaults: StreamSettings::default(),
            journal_rewrite_pct: 100,
            journal_rewrite_min: 64 << 20,
        }
    }
}

pub(crate) struct Slot {
    /// The stream's number (names its files); 0 for a list or string.
    pub(super) sid: u64,
    pub(super) kind: KeyType,
    settings: Mutex<StreamSettings>,
    stream: Mutex<Option<Arc<Stream>>>,
    /// A list's or string's value.
    value: Mutex<Option<Value>>,
    /// Unix ms at which the key expires; 0 when it does not.
    pub(super) expire_at: AtomicU64,
}

impl Slot {
    fn new(sid: u64, kind: KeyType, settings: StreamSettings) -> Arc<Slot> {
        Arc::new(Slot {
            sid,
            kind,
            settings: Mutex::new(settings),
            stream: Mutex::new(None),
            value: Mutex::new(None),
            expire_at: AtomicU64::new(0),
        })
    }

    /// A list's or string's slot.
    pub(super) fn new_mem(value: Value) -> Arc<Slot> {
        Arc::new(Slot {
            sid: 0,
            kind: value.kind(),
            settings: Mutex::new(StreamSettings::default()),
            stream: Mutex::new(None),
            value: Mutex::new(Some(value)),
            expire_at: AtomicU64::new(0),
        })
    }

    /// A list's or string's value (`None` for a stream).
    pub(super) fn value(&self) -> MutexGuard<'_, Option<Value>> {
        lock(&self.value)
    }

    fn is_mem(&self) -> bool {
        self.kind != KeyType::Stream
    }

    fn expire(&self) -> u64 {
        self.expire_at.load(Ordering::Acquire)
    }

    fn expired(&self, now_ms: u64) -> bool {
        let at = self.expire();
        at != 0 && at <= now_ms
    }
}

pub(crate) struct Keyspace {
    pub(super) dbs: Vec<BTreeMap<Bytes, Arc<Slot>>>,
    /// The key of the journal's last record (lists and strings).
    /// Per database, keys ordered by (hash, key): SCAN's cursor order.
    scan: Vec<BTreeSet<(u64, Bytes)>>,
    next_sid: u64,
    catalog_key: u128,
    since_snapshot: u64,
    /// Room for a [`MemBatch`]'s encoded ops, kept from batch to batch.
    scratch: Vec<u8>,
}

/// The engine: a data directory of databases of streams.
pub struct Engine {
    pub(super) store: Store,
    catalog: Arc<Log>,
    pub(super) ks: Mutex<Keyspace>,
    /// Atomic appends to several streams (see [`super::txn`]).
    pub(super) txn: super::txn::Txns,
    limits: Mutex<NodeLimits>,
    /// The store's log settings and the per-stream defaults.
    base_log: LogConfig,
    defaults: Mutex<StreamSettings>,
    /// Wake-ups for blocked readers.
    pub watches: super::notify::Watches,
    /// The journal of lists and strings.
    memory: Arc<Journal>,
    /// Lists and strings replayed at open, and those dropped (see
    /// [`Recovery`]).
    recovered_memory: (u64, u64),
    /// Keys removed because they expired, not yet taken by
    /// [`Engine::take_expired`] (the server's `expired` notifications);
    /// the oldest go past `EXPIRED_KEPT`.
    expired: Mutex<std::collections::VecDeque<(usize, Bytes)>>,
    expired_n: std::sync::atomic::AtomicUsize,
    /// Where the background expiry pass goes on: a database and the last
    /// key looked at.
    expire_cursor: Mutex<(usize, Option<Bytes>)>,
    /// Ops applied and not journaled yet (see [`MemBatch::stage`]);
    /// locked after the keyspace, and changed only under it.
    staged: Mutex<Staged>,
    /// `staged` holds ops: read without the locks.
    has_staged: AtomicBool,
}

/// Ops applied in memory whose journal record is still to be written, as
/// Redis's AOF buffer holds a pass's commands until the event loop writes
/// it once for every client: one record for several connections' batches.
#[derive(Default)]
struct Staged {
    /// How many ops.
    n: u64,
    /// Room for their count ([`memory::COUNT_ROOM`] bytes), then their
    /// encoding, one after the other.
    buf: Vec<u8>,
    /// What the batches that staged them wait on.
    ticket: Option<Arc<StagedTicket>>,
}

/// What batches left in the staging buffer wait on: set once the record
/// that holds their ops is written (its commit), or could not be (the
/// error's text; memory was reloaded from the journal by then).
#[derive(Default)]
pub struct StagedTicket {
    done: std::sync::OnceLock<Result<Commit, String>>,
}

impl StagedTicket {
    /// The record's commit, its failure, or `None` while not written.
    pub fn result(&self) -> Option<Result<Commit, String>> {
        self.done.get().cloned()
    }
}

pub(crate) const CATALOG: &str = "catalog";
/// The journal of lists and strings.
pub(crate) const MEMORY: &str = "memory";
/// The first snapshot layout (no settings): read, no longer written.
const CAT_SNAPSHOT_V1: u8 = 1;
/// The second snapshot layout (settings, no expiry): read, no longer
/// written.
const CAT_SNAPSHOT_V2: u8 = 7;
const CAT_SNAPSHOT: u8 = 10;
const CAT_RENAME: u8 = 8;
const CAT_EXPIRE: u8 = 9;
const CAT_PUT: u8 = 2;
const CAT_DEL: u8 = 3;
const CAT_SETDB: u8 = 4;
const CAT_SWAP: u8 = 5;
const CAT_SETTINGS: u8 = 6;

fn log_name(sid: u64) -> String {
    format!("x{sid:016x}")
}

fn scan_hash(key: &[u8]) -> u64 {
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
    (h >> 1) + 1
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Keyspace {
    pub(super) fn insert(&mut self, db: usize, key: Bytes, slot: Arc<Slot>) {
        let key = super::own(&key);
        self.scan[db].insert((scan_hash(&key), key.clone()));
        self.dbs[db].insert(key, slot);
    }

    pub(super) fn remove(&mut self, db: usize, key: &[u8]) -> Option<Arc<Slot>> {
        let slot = self.dbs[db].remove(key)?;
        self.scan[db].remove(&(scan_hash(key), Bytes::copy_from_slice(key)));
        Some(slot)
    }
}

impl Engine {
    /// Opens (creating if missing) the engine in `dir`.
    pub fn open(dir: impl AsRef<Path>, cfg: EngineConfig) -> Result<Engine, EngineError> {
        Engine::open_with(FsIo::shared(), dir, cfg)
    }

    /// Opens the engine over an [`Io`] (the simulated disk in tests).
    pub fn open_with(
        io: Arc<dyn Io>,
        dir: impl AsRef<Path>,
        cfg: EngineConfig,
    ) -> Result<Engine, EngineError> {
        let store = Store::open(io, dir.as_ref(), cfg.store.clone())?;
        let cat_cfg = LogConfig {
            fsync: FsyncPolicy::Always,
            segment_bytes: 64 << 20,
            ..cfg.store.log.clone()
        };
        let catalog = store.log_with(CATALOG, cat_cfg)?;
        let dbs = cfg.databases.max(1);
        let mut ks = Keyspace {
            dbs: vec![BTreeMap::new(); dbs],
            scan: vec![BTreeSet::new(); dbs],
            next_sid: 1,
            catalog_key: catalog.last_key().unwrap_or(0),
            since_snapshot: 0,
            scratch: Vec::new(),
        };
        // Replay from the last snapshot.
        let mut recs = Vec::new();
        for rec in catalog.iter_back_from(u128::MAX)? {
            let rec = rec?;
            let snap = matches!(rec.kind, CAT_SNAPSHOT | CAT_SNAPSHOT_V2 | CAT_SNAPSHOT_V1);
            recs.push(rec);
            if snap {
                break;
            }
        }
        ks.since_snapshot = recs.len() as u64;
        let mut by_sid: HashMap<u64, (usize, Bytes)> = HashMap::new();
        for rec in recs.into_iter().rev() {
            let key = rec.key;
            apply_catalog(&mut ks, &mut by_sid, rec.kind, rec.payload).map_err(|_| {
                EngineError::Corrupt {
                    file: catalog.dir().to_path_buf(),
                    key,
                }
            })?;
        }
        // Files of streams the catalog does not know are garbage.
        for name in store.list()? {
            let Some(hex) = name.strip_prefix('x') else {
                continue;
            };
            let hex = hex.strip_suffix(".m").unwrap_or(hex);
            if let Ok(sid) = u64::from_str_radix(hex, 16) {
                if !by_sid.contains_key(&sid) {
                    store.remove(&name)?;
                }
            }
        }
        let mem_log = store.log_with(MEMORY, cfg.store.log.clone())?;
        let (mem_key, memory_keys, memory_conflicts) = replay_memory(&mem_log, &mut ks)?;
        let memory = Arc::new(Journal::new(mem_log, mem_key));
        memory.rewrite_pct.store(
            cfg.journal_rewrite_pct,
            std::sync::atomic::Ordering::Relaxed,
        );
        memory.rewrite_min.store(
            cfg.journal_rewrite_min,
            std::sync::atomic::Ordering::Relaxed,
        );
        let txn = super::txn::Txns::open(&store)?;
        let engine = Engine {
            store,
            catalog,
            txn,
            ks: Mutex::new(ks),
            limits: Mutex::new(cfg.node_limits),
            base_log: cfg.store.log.clone(),
            defaults: Mutex::new(cfg.stream_defaults),
            watches: Default::default(),
            memory,
            recovered_memory: (memory_keys, memory_conflicts),
            expired: Mutex::new(std::collections::VecDeque::new()),
            expired_n: std::sync::atomic::AtomicUsize::new(0),
            expire_cursor: Mutex::new((0, None)),
            staged: Mutex::new(Staged::default()),
            has_staged: AtomicBool::new(false),
        };
        engine.redo_txns()?;
        Ok(engine)
    }

    /// The node limits `~` trimming follows.
    pub fn node_limits(&self) -> NodeLimits {
        *lock(&self.limits)
    }

    /// Changes the node limits (CONFIG SET stream-node-max-*).
    pub fn set_node_limits(&self, l: NodeLimits) {
        *lock(&self.limits) = l;
    }

    /// Number of databases.
    pub fn databases(&self) -> usize {
        lock(&self.ks).dbs.len()
    }

    pub(super) fn check_db(&self, ks: &Keyspace, db: usize) -> Result<(), EngineError> {
        if db < ks.dbs.len() {
            Ok(())
        } else {
            Err(EngineError::DbIndex)
        }
    }

    fn write_catalog(
        &self,
        ks: &mut Keyspace,
        kind: u8,
        payload: &[u8],
    ) -> Result<(), EngineError> {
        let key = ks.catalog_key.saturating_add(1);
        self.catalog.append(kind, key, payload)?;
        ks.catalog_key = key;
        ks.since_snapshot += 1;
        let live: usize = ks
            .dbs
            .iter()
            .map(|d| d.values().filter(|s| !s.is_mem()).count())
            .sum();
        if ks.since_snapshot > 1024.max(2 * live as u64) {
            let mut b = Vec::new();
            codec::put_u64(&mut b, ks.next_sid);
            codec::put_u64(&mut b, live as u64);
            for (db, m) in ks.dbs.iter().enumerate() {
                for (k, slot) in m.iter().filter(|(_, s)| !s.is_mem()) {
                    codec::put_u64(&mut b, slot.sid);
                    codec::put_u64(&mut b, db as u64);
                    codec::put_u64(&mut b, slot.kind.code());
                    codec::put_bytes(&mut b, k);
                    lock(&slot.settings).encode_into(&mut b);
                    codec::put_u64(&mut b, slot.expire());
                }
            }
            let key = ks.catalog_key.saturating_add(1);
            self.catalog
                .submit_in_new_segment(&[Entry {
                    kind: CAT_SNAPSHOT,
                    key,
                    payload: &b,
                }])?
                .wait()?;
            ks.catalog_key = key;
            ks.since_snapshot = 0;
            self.catalog.retain_from(key)?;
        }
        Ok(())
    }

    pub(super) fn open_stream(&self, slot: &Slot) -> Result<Arc<Stream>, EngineError> {
        let mut s = lock(&slot.stream);
        if let Some(st) = &*s {
            return Ok(st.clone());
        }
        let name = log_name(slot.sid);
        let (entries_cfg, journal_cfg) = self.log_configs(*lock(&slot.settings));
        let entries = self.store.log_with(&name, entries_cfg.clone())?;
        let journal = self.store.log_with(&format!("{name}.m"), journal_cfg)?;
        // Handles still held from before a change of settings.
        entries.set_policy(entries_cfg.fsync);
        entries.set_segment_bytes(entries_cfg.segment_bytes);
        journal.set_policy(entries_cfg.fsync);
        let st = Arc::new(Stream::open(entries, journal)?);
        *s = Some(st.clone());
        Ok(st)
    }

    /// The stream at `key`, if the key exists; WRONGTYPE if it holds
    /// another type.
    pub fn stream(&self, db: usize, key: &[u8]) -> Result<Option<Arc<Stream>>, EngineError> {
        let slot = {
            let mut ks = lock(&self.ks);
            self.check_db(&ks, db)?;
            self.reap(&mut ks, db, key)?;
            match ks.dbs[db].get(key) {
                None => return Ok(None),
                Some(s) if s.kind != KeyType::Stream => return Err(EngineError::WrongType),
                Some(s) => s.clone(),
            }
        };
        self.open_stream(&slot).map(Some)
    }

    /// The configs of a stream's entries log and journal.
    fn log_configs(&self, own: StreamSettings) -> (LogConfig, LogConfig) {
        let entries = own.or(*lock(&self.defaults)).log_config(&self.base_log);
        let journal = LogConfig {
            fsync: entries.fsync,
            ..self.base_log.clone()
        };
        (entries, journal)
    }

    /// The stream slot at `key`, created if missing.
    fn stream_slot(&self, db: usize, key: &[u8]) -> Result<Arc<Slot>, EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        self.reap(&mut ks, db, key)?;
        match ks.dbs[db].get(key) {
            Some(s) if s.kind != KeyType::Stream => Err(EngineError::WrongType),
            Some(s) => Ok(s.clone()),
            None => self.create_slot(&mut ks, db, key),
        }
    }

    /// Creates a stream key (the catalog record first).
    pub(super) fn create_slot(
        &self,
        ks: &mut Keyspace,
        db: usize,
        key: &[u8],
    ) -> Result<Arc<Slot>, EngineError> {
        let sid = ks.next_sid;
        let mut b = Vec::new();
        codec::put_u64(&mut b, sid);
        codec::put_u64(&mut b, db as u64);
        codec::put_u64(&mut b, KeyType::Stream.code());
        codec::put_bytes(&mut b, key);
        self.write_catalog(ks, CAT_PUT, &b)?;
        ks.next_sid = sid.saturating_add(1);
        let slot = Slot::new(sid, KeyType::Stream, StreamSettings::default());
        ks.insert(db, Bytes::copy_from_slice(key), slot.clone());
        Ok(slot)
    }

    /// The stream at `key`, created if missing.
    pub fn stream_or_create(&self, db: usize, key: &[u8]) -> Result<Arc<Stream>, EngineError> {
        let slot = self.stream_slot(db, key)?;
        self.open_stream(&slot)
    }

    /// The stream's own settings (`None` fields take the defaults), or
    /// `None` when the key does not exist.
    pub fn stream_settings(
        &self,
        db: usize,
        key: &[u8],
    ) -> Result<Option<StreamSettings>, EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        self.reap(&mut ks, db, key)?;
        match ks.dbs[db].get(key) {
            None => Ok(None),
            Some(s) if s.kind != KeyType::Stream => Err(EngineError::WrongType),
            Some(s) => Ok(Some(*lock(&s.settings))),
        }
    }

    /// The settings in force for a stream: its own over the defaults.
    pub fn effective_settings(&self, own: StreamSettings) -> StreamSettings {
        let log = own.or(*lock(&self.defaults)).log_config(&self.base_log);
        StreamSettings {
            fsync: Some(log.fsync),
            segment_bytes: Some(log.segment_bytes),
            ..own.or(*lock(&self.defaults))
        }
    }

    /// Replaces a stream's own settings, creating the stream (empty) if
    /// missing, as a Kafka topic is created with its configs. They are
    /// persisted in the catalog and take effect at once: the fsync policy
    /// for the next append, the segment size at the next roll, retention
    /// at the next [`Engine::enforce_retention`].
    pub fn set_stream_settings(
        &self,
        db: usize,
        key: &[u8],
        settings: StreamSettings,
    ) -> Result<Arc<Stream>, EngineError> {
        let slot = self.stream_slot(db, key)?;
        {
            let mut ks = lock(&self.ks);
            let mut b = Vec::new();
            codec::put_u64(&mut b, slot.sid);
            settings.encode_into(&mut b);
            self.write_catalog(&mut ks, CAT_SETTINGS, &b)?;
            *lock(&slot.settings) = settings;
        }
        let (entries_cfg, _) = self.log_configs(settings);
        let open = lock(&slot.stream).clone();
        if let Some(st) = open {
            st.set_log_settings(entries_cfg.fsync, entries_cfg.segment_bytes);
            return Ok(st);
        }
        self.open_stream(&slot)
    }

    /// Changes the default fsync policy (CONFIG SET appendfsync): streams
    /// without a policy of their own take it at once.
    pub fn set_default_fsync(&self, fsync: FsyncPolicy) {
        lock(&self.defaults).fsync = Some(fsync);
        self.memory.log.set_policy(fsync);
        let slots: Vec<Arc<Slot>> = {
            let ks = lock(&self.ks);
            ks.dbs.iter().flat_map(|d| d.values().cloned()).collect()
        };
        for slot in slots {
            let own = *lock(&slot.settings);
            if own.fsync.is_some() {
                continue;
            }
            let (cfg, _) = self.log_configs(own);
            if let Some(st) = lock(&slot.stream).clone() {
                st.set_log_settings(cfg.fsync, cfg.segment_bytes);
            }
        }
    }

    /// Applies retention (MAXAGE, MAXBYTES) to every stream that has it:
    /// whole segments of entries past a limit are trimmed (an exact MINID
    /// trim to the first segment kept) and removed. The server calls it
    /// periodically, as Kafka checks retention every few minutes. Returns
    /// the number of entries removed.
    pub fn enforce_retention(&self, now_ms: u64) -> Result<u64, EngineError> {
        let defaults = *lock(&self.defaults);
        let slots: Vec<(Arc<Slot>, StreamSettings)> = {
            let ks = lock(&self.ks);
            ks.dbs
                .iter()
                .flat_map(|d| d.values())
                .filter(|s| s.kind == KeyType::Stream)
                .map(|s| (s.clone(), lock(&s.settings).or(defaults)))
                .filter(|(_, st)| st.has_retention())
                .collect()
        };
        let limits = self.node_limits();
        let mut removed = 0;
        for (slot, set) in slots {
            let st = self.open_stream(&slot)?;
            let (n, commits) = st.apply_retention(set.max_age_ms, set.max_bytes, now_ms, limits)?;
            super::stream::wait_all(commits)?;
            removed += n;
        }
        Ok(removed)
    }

    /// DEL / UNLINK of one key; true when it existed.
    pub fn delete(&self, db: usize, key: &[u8]) -> Result<bool, EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        if self.reap(&mut ks, db, key)? {
            return Ok(false);
        }
        let Some(slot) = ks.dbs[db].get(key).cloned() else {
            return Ok(false);
        };
        self.remove_slot(&mut ks, db, key, &slot)?;
        Ok(true)
    }

    /// Removes a key: the catalog record first, then its files.
    fn remove_slot(
        &self,
        ks: &mut Keyspace,
        db: usize,
        key: &[u8],
        slot: &Slot,
    ) -> Result<(), EngineError> {
        if slot.is_mem() {
            let key = Bytes::copy_from_slice(key);
            // Waited for, as the catalog's records are: under `always` an
            // acknowledged DEL (or expiry) is durable.
            let op = Op::Del {
                db,
                key: key.clone(),
            };
            self.mem_write(ks, vec![op])?.1.wait()?;
            self.watches.notify(db, &key);
            return Ok(());
        }
        let mut b = Vec::new();
        codec::put_u64(&mut b, slot.sid);
        self.write_catalog(ks, CAT_DEL, &b)?;
        ks.remove(db, key);
        *lock(&slot.stream) = None;
        let name = log_name(slot.sid);
        self.store.remove(&name)?;
        self.store.remove(&format!("{name}.m"))?;
        self.watches.notify(db, key);
        Ok(())
    }

    /// Removes `key` if its expiry time passed; true when it did.
    pub(super) fn reap(
        &self,
        ks: &mut Keyspace,
        db: usize,
        key: &[u8],
    ) -> Result<bool, EngineError> {
        let slot = match ks.dbs[db].get(key) {
            // The clock is read only for a key that has an expiry time.
            Some(s) if s.expire() != 0 && s.expired(now_ms()) => s.clone(),
            _ => return Ok(false),
        };
        self.remove_slot(ks, db, key, &slot)?;
        let mut q = lock(&self.expired);
        if q.len() >= EXPIRED_KEPT {
            q.pop_front();
        }
        q.push_back((db, Bytes::copy_from_slice(key)));
        self.expired_n.store(q.len(), Ordering::Release);
        Ok(true)
    }

    /// The keys removed because they expired since the last call, oldest
    /// first (at most the last `EXPIRED_KEPT`).
    pub fn take_expired(&self) -> Vec<(usize, Bytes)> {
        if self.expired_n.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        let mut q = lock(&self.expired);
        self.expired_n.store(0, Ordering::Release);
        q.drain(..).collect()
    }

    /// Sets (Unix ms) or clears (0) a key's expiry time, persisted in the
    /// catalog. A time already past deletes the key. False when the key
    /// does not exist.
    pub fn set_expire(&self, db: usize, key: &[u8], at_ms: u64) -> Result<bool, EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        self.reap(&mut ks, db, key)?;
        let Some(slot) = ks.dbs[db].get(key).cloned() else {
            return Ok(false);
        };
        if at_ms != 0 && at_ms <= now_ms() {
            self.remove_slot(&mut ks, db, key, &slot)?;
            return Ok(true);
        }
        if slot.is_mem() {
            let op = Op::Expire {
                db,
                key: Bytes::copy_from_slice(key),
                at: at_ms,
            };
            self.mem_write(&mut ks, vec![op])?.1.wait()?;
            return Ok(true);
        }
        let mut b = Vec::new();
        codec::put_u64(&mut b, slot.sid);
        codec::put_u64(&mut b, at_ms);
        self.write_catalog(&mut ks, CAT_EXPIRE, &b)?;
        slot.expire_at.store(at_ms, Ordering::Release);
        Ok(true)
    }

    /// A key's expiry time: `None` when the key does not exist, `Some(0)`
    /// when it has none.
    pub fn expire_of(&self, db: usize, key: &[u8]) -> Result<Option<u64>, EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        self.reap(&mut ks, db, key)?;
        Ok(ks.dbs[db].get(key).map(|s| s.expire()))
    }

    /// Removes keys whose expiry time passed, at most `max` of them (the
    /// server calls it periodically, as Redis's active expiry). Returns how
    /// many went.
    pub fn purge_expired(&self, max: usize) -> Result<u64, EngineError> {
        let mut ks = lock(&self.ks);
        let now = now_ms();
        // Each pass looks at no more than `SCAN` keys, from where the last
        // one stopped, so that the keyspace lock is held for a bounded time
        // however many keys there are (Redis samples keys with an expiry
        // time; lazy expiry covers the keys read meanwhile).
        const SCAN: usize = 4096;
        let mut cursor = lock(&self.expire_cursor);
        let ndb = ks.dbs.len();
        let (mut db, mut from) = cursor.clone();
        let mut due: Vec<(usize, Bytes)> = Vec::new();
        let mut looked = 0;
        for _ in 0..=ndb {
            if db >= ndb {
                db = 0;
            }
            let start = match &from {
                Some(k) => std::ops::Bound::Excluded(&k[..]),
                None => std::ops::Bound::Unbounded,
            };
            let range = ks.dbs[db].range::<[u8], _>((start, std::ops::Bound::Unbounded));
            let mut last = None;
            for (k, s) in range {
                looked += 1;
                last = Some(k.clone());
                if s.expire() != 0 && s.expired(now) {
                    due.push((db, k.clone()));
                }
                if looked >= SCAN || due.len() >= max {
                    break;
                }
            }
            match last {
                Some(k) if looked >= SCAN || due.len() >= max => {
                    from = Some(k);
                    break;
                }
                // The end of this database: the next one, from its start.
                _ => {
                    db += 1;
                    from = None;
                }
            }
            if looked >= SCAN {
                break;
            }
        }
        *cursor = (db, from);
        drop(cursor);
        let mut n = 0;
        for (db, key) in due {
            if self.reap(&mut ks, db, &key)? {
                n += 1;
            }
        }
        Ok(n)
    }

    /// RENAME (`nx` false) and RENAMENX (`nx` true). RENAME replaces an
    /// existing destination; RENAMENX then answers false. The expiry time
    /// goes with the key. `ERR no such key` when `key` does not exist.
    pub fn rename(
        &self,
        db: usize,
        key: &[u8],
        new_key: &[u8],
        nx: bool,
    ) -> Result<bool, EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        self.reap(&mut ks, db, key)?;
        self.reap(&mut ks, db, new_key)?;
        let Some(slot) = ks.dbs[db].get(key).cloned() else {
            return Err(EngineError::NoSuchKey);
        };
        if key == new_key {
            return Ok(!nx);
        }
        if let Some(old) = ks.dbs[db].get(new_key).cloned() {
            if nx {
                return Ok(false);
            }
            // A list or string renamed over another replaces it in the
            // same journal record.
            if !(slot.is_mem() && old.is_mem()) {
                self.remove_slot(&mut ks, db, new_key, &old)?;
            }
        }
        if slot.is_mem() {
            let op = Op::Rename {
                db,
                key: Bytes::copy_from_slice(key),
                to: Bytes::copy_from_slice(new_key),
            };
            self.mem_write(&mut ks, vec![op])?.1.wait()?;
        } else {
            let mut b = Vec::new();
            codec::put_u64(&mut b, slot.sid);
            codec::put_u64(&mut b, db as u64);
            codec::put_bytes(&mut b, new_key);
            self.write_catalog(&mut ks, CAT_RENAME, &b)?;
            ks.remove(db, key);
            ks.insert(db, Bytes::copy_from_slice(new_key), slot);
        }
        drop(ks);
        self.watches.notify(db, key);
        self.watches.notify(db, new_key);
        Ok(true)
    }

    /// COPY: a new stream with the same entries, groups, settings and
    /// expiry time. False when `key` does not exist, or `to_key` does and
    /// `replace` is not set. The source is locked (no appends) while its
    /// records are copied; the destination enters the catalog once its
    /// files are written, so a crash before leaves only garbage that the
    /// next open removes.
    pub fn copy(
        &self,
        db: usize,
        key: &[u8],
        to_db: usize,
        to_key: &[u8],
        replace: bool,
    ) -> Result<bool, EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        self.check_db(&ks, to_db)?;
        if db == to_db && key == to_key {
            return Err(EngineError::SameObject);
        }
        self.reap(&mut ks, db, key)?;
        self.reap(&mut ks, to_db, to_key)?;
        let Some(src) = ks.dbs[db].get(key).cloned() else {
            return Ok(false);
        };
        let existing = ks.dbs[to_db].get(to_key).cloned();
        if existing.is_some() && !replace {
            return Ok(false);
        }
        if src.is_mem() {
            if let Some(old) = existing.filter(|s| !s.is_mem()) {
                self.remove_slot(&mut ks, to_db, to_key, &old)?;
            }
            let op = Op::Copy {
                db,
                key: Bytes::copy_from_slice(key),
                to_db,
                to_key: Bytes::copy_from_slice(to_key),
            };
            self.mem_write(&mut ks, vec![op])?.1.wait()?;
            drop(ks);
            self.watches.notify(to_db, to_key);
            return Ok(true);
        }
        let stream = self.open_stream(&src)?;
        let sid = ks.next_sid;
        let name = log_name(sid);
        let settings = *lock(&src.settings);
        let (entries_cfg, journal_cfg) = self.log_configs(settings);
        {
            let _frozen = stream.state.lock().unwrap_or_else(|e| e.into_inner());
            let (from_entries, from_journal) = stream.logs();
            // Leftovers of an interrupted COPY to the same number go first.
            self.store.remove(&name)?;
            self.store.remove(&format!("{name}.m"))?;
            let to_entries = self.store.log_with(&name, entries_cfg)?;
            copy_log(from_entries, &to_entries)?;
            let to_journal = self.store.log_with(&format!("{name}.m"), journal_cfg)?;
            copy_log(from_journal, &to_journal)?;
        }
        if let Some(old) = existing {
            self.remove_slot(&mut ks, to_db, to_key, &old)?;
        }
        let mut b = Vec::new();
        codec::put_u64(&mut b, sid);
        codec::put_u64(&mut b, to_db as u64);
        codec::put_u64(&mut b, KeyType::Stream.code());
        codec::put_bytes(&mut b, to_key);
        self.write_catalog(&mut ks, CAT_PUT, &b)?;
        ks.next_sid = sid.saturating_add(1);
        let slot = Slot::new(sid, KeyType::Stream, StreamSettings::default());
        ks.insert(to_db, Bytes::copy_from_slice(to_key), slot.clone());
        if settings != StreamSettings::default() {
            let mut b = Vec::new();
            codec::put_u64(&mut b, sid);
            settings.encode_into(&mut b);
            self.write_catalog(&mut ks, CAT_SETTINGS, &b)?;
            *lock(&slot.settings) = settings;
        }
        let at = src.expire();
        if at != 0 {
            let mut b = Vec::new();
            codec::put_u64(&mut b, sid);
            codec::put_u64(&mut b, at);
            self.write_catalog(&mut ks, CAT_EXPIRE, &b)?;
            slot.expire_at.store(at, Ordering::Release);
        }
        drop(ks);
        self.watches.notify(to_db, to_key);
        Ok(true)
    }

    /// EXISTS of one key.
    pub fn exists(&self, db: usize, key: &[u8]) -> Result<bool, EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        self.reap(&mut ks, db, key)?;
        Ok(ks.dbs[db].contains_key(key))
    }

    /// TYPE: the key's type, `None` when missing.
    pub fn key_type(&self, db: usize, key: &[u8]) -> Result<Option<KeyType>, EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        self.reap(&mut ks, db, key)?;
        Ok(ks.dbs[db].get(key).map(|s| s.kind))
    }

    /// KEYS: every key of `db` matching the glob `pattern`.
    pub fn keys(&self, db: usize, pattern: &[u8]) -> Result<Vec<Bytes>, EngineError> {
        let ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        let now = now_ms();
        Ok(ks.dbs[db]
            .iter()
            .filter(|(k, s)| !s.expired(now) && glob_match(pattern, k, false))
            .map(|(k, _)| k.clone())
            .collect())
    }

    /// Keys of `db` with an expiry time (INFO keyspace's `expires`).
    pub fn expires_count(&self, db: usize) -> Result<u64, EngineError> {
        let ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        Ok(ks.dbs[db].values().filter(|s| s.expire() != 0).count() as u64)
    }

    /// DBSIZE.
    pub fn dbsize(&self, db: usize) -> Result<u64, EngineError> {
        let ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        Ok(ks.dbs[db].len() as u64)
    }

    /// SCAN: visits about `count` keys from `cursor`; returns the next
    /// cursor (0 when done) and the keys that match. A key present for
    /// the whole iteration is returned at least once.
    pub fn scan(
        &self,
        db: usize,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: usize,
        kind: Option<&[u8]>,
    ) -> Result<(u64, Vec<Bytes>), EngineError> {
        let ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        let mut out = Vec::new();
        let now = now_ms();
        let mut visit = |k: &Bytes| {
            let Some(slot) = ks.dbs[db].get(k).filter(|s| !s.expired(now)) else {
                return;
            };
            let type_ok =
                kind.is_none_or(|t| t.eq_ignore_ascii_case(slot.kind.as_str().as_bytes()));
            if type_ok && pattern.is_none_or(|p| glob_match(p, k, false)) {
                out.push(k.clone());
            }
        };
        let mut it = ks.scan[db].range((cursor, Bytes::new())..).peekable();
        let mut visited = 0usize;
        while let Some((h, k)) = it.next() {
            visit(k);
            visited += 1;
            if visited >= count.max(1) {
                // Keys sharing a hash go together: the cursor is a hash.
                while let Some((_, k2)) = it.next_if(|(h2, _)| h2 == h) {
                    visit(k2);
                }
                let next = it.peek().map_or(0, |(h, _)| *h);
                return Ok((next, out));
            }
        }
        Ok((0, out))
    }

    /// MOVE: true when moved (the key existed in `db` and not in `to`).
    pub fn move_key(&self, db: usize, key: &[u8], to: usize) -> Result<bool, EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        self.check_db(&ks, to)?;
        self.reap(&mut ks, db, key)?;
        self.reap(&mut ks, to, key)?;
        if db == to {
            return Err(EngineError::SameObject);
        }
        let Some(slot) = ks.dbs[db].get(key).cloned() else {
            return Ok(false);
        };
        if ks.dbs[to].contains_key(key) {
            return Ok(false);
        }
        if slot.is_mem() {
            let op = Op::MoveDb {
                db,
                key: Bytes::copy_from_slice(key),
                to_db: to,
            };
            self.mem_write(&mut ks, vec![op])?.1.wait()?;
        } else {
            let mut b = Vec::new();
            codec::put_u64(&mut b, slot.sid);
            codec::put_u64(&mut b, to as u64);
            self.write_catalog(&mut ks, CAT_SETDB, &b)?;
            ks.remove(db, key);
            ks.insert(to, Bytes::copy_from_slice(key), slot);
        }
        drop(ks);
        self.watches.notify(to, key);
        Ok(true)
    }

    /// SWAPDB.
    pub fn swap_db(&self, a: usize, b: usize) -> Result<(), EngineError> {
        let mut ks = lock(&self.ks);
        if a >= ks.dbs.len() || b >= ks.dbs.len() {
            return Err(EngineError::DbIndex);
        }
        let mut p = Vec::new();
        codec::put_u64(&mut p, a as u64);
        codec::put_u64(&mut p, b as u64);
        self.write_catalog(&mut ks, CAT_SWAP, &p)?;
        // The lists and strings swap in the journal too. Only recorded:
        // the swap below moves every key.
        // Waited for, as the catalog's record is.
        self.write_staged(&mut ks)?;
        self.memory.write(&[Op::SwapDb { a, b }])?.wait()?;
        ks.dbs.swap(a, b);
        ks.scan.swap(a, b);
        Ok(())
    }

    /// Opens every stream (each reads only its tail) and reports what was
    /// recovered: the server logs it at start.
    pub fn open_all(&self) -> Result<Recovery, EngineError> {
        let slots: Vec<Arc<Slot>> = {
            let ks = lock(&self.ks);
            ks.dbs
                .iter()
                .flat_map(|d| d.values().filter(|s| !s.is_mem()).cloned())
                .collect()
        };
        let mut r = Recovery {
            memory_keys: self.recovered_memory.0,
            memory_conflicts: self.recovered_memory.1,
            ..Recovery::default()
        };
        for slot in slots {
            let st = self.open_stream(&slot)?;
            r.streams += 1;
            r.entries += st.len();
            r.torn_bytes += st.torn_bytes();
        }
        r.torn_bytes += self.catalog.recovery().torn_bytes;
        r.torn_bytes += self.memory.log.recovery().torn_bytes;
        Ok(r)
    }

    /// Counters of the logs open now (INFO's brook section).
    pub fn storage_stats(&self) -> StorageStats {
        let mut s = StorageStats::default();
        for log in self.store.open_log_handles() {
            let st = log.stats();
            s.logs += 1;
            s.segments += st.segments as u64;
            s.disk_bytes += log.disk_bytes().unwrap_or(0);
            s.fsyncs += st.sync.syncs;
            s.last_fsync_micros = s.last_fsync_micros.max(st.sync.last_sync_micros);
        }
        s
    }

    /// Syncs every open log.
    pub fn sync(&self) -> Result<(), EngineError> {
        Ok(self.store.sync_all()?)
    }

    /// Waits for a running compaction of the journal, then syncs every
    /// log: before a shutdown or a reopen, so that nothing writes behind.
    pub fn quiesce(&self) -> Result<(), EngineError> {
        self.flush_staged()?;
        self.memory.wait_compaction();
        self.sync()
    }
}

/// Lists and strings: reads and writes under the keyspace lock.
impl Engine {
    /// Writes `ops` to the journal as one record, then applies them.
    /// Returns each op's outcome and the record's commit.
    pub(super) fn mem_write(
        &self,
        ks: &mut Keyspace,
        ops: Vec<Op>,
    ) -> Result<(Vec<Outcome>, Commit), EngineError> {
        // Staged ops were applied first: their record goes first.
        self.write_staged(ks)?;
        let commit = self.memory.write(&ops)?;
        let mut outs = Vec::with_capacity(ops.len());
        for op in ops {
            outs.push(memory::apply(ks, op).map_err(refused)?);
        }
        if self.memory.wants_compaction() {
            if let Err(e) = self.start_compaction(ks) {
                tracing::warn!("journal compaction could not start: {e}");
            }
        }
        Ok((outs, commit))
    }

    /// Starts compacting the journal with a copy of every list and string
    /// as of now (values are shared, not copied: a list copy is a handle
    /// per item). False when a compaction runs already.
    fn start_compaction(&self, ks: &mut Keyspace) -> Result<bool, EngineError> {
        if self.memory.compacting() {
            return Ok(false);
        }
        // The copy holds the staged ops: their record goes before BEGIN.
        self.write_staged(ks)?;
        let mut items = Vec::new();
        for (db, m) in ks.dbs.iter().enumerate() {
            // Expired keys too: replay drops them, and should the clock
            // step back, the snapshot still agrees with what follows.
            for (key, slot) in m.iter().filter(|(_, s)| s.is_mem()) {
                if let Some(v) = slot.value().clone() {
                    items.push((db, key.clone(), v, slot.expire()));
                }
            }
        }
        Ok(self.memory.compact(items)?)
    }

    /// True from when ops are staged until their record is written (or
    /// its write failed): a reply must not go out before
    /// [`Engine::flush_staged`], or a client could see a change that a
    /// crash then loses.
    pub fn has_staged(&self) -> bool {
        self.has_staged.load(Ordering::Acquire)
    }

    /// Journals the staged ops, if any, as one record; every ticket
    /// waiting on them learns how it went.
    pub fn flush_staged(&self) -> Result<(), EngineError> {
        if !self.has_staged() {
            return Ok(());
        }
        let mut ks = lock(&self.ks);
        self.write_staged(&mut ks)
    }

    /// [`Engine::flush_staged`] with the keyspace held. On failure memory
    /// is reloaded from the journal (the staged ops were applied), and the
    /// tickets carry the error.
    fn write_staged(&self, ks: &mut Keyspace) -> Result<(), EngineError> {
        let (n, mut buf, ticket) = {
            let mut st = lock(&self.staged);
            if st.n == 0 {
                return Ok(());
            }
            (
                std::mem::take(&mut st.n),
                std::mem::take(&mut st.buf),
                st.ticket.take(),
            )
        };
        // Nothing is staged meanwhile (that takes the keyspace); the flag
        // drops only once the tickets are set, so that a reader who sees
        // it down sees them set.
        match self.memory.write_encoded(n, &mut buf) {
            Ok(c) => {
                if let Some(t) = ticket {
                    let _ = t.done.set(Ok(c));
                }
                self.has_staged.store(false, Ordering::Release);
                let mut st = lock(&self.staged);
                if st.buf.capacity() == 0 && buf.capacity() <= STAGED_KEPT_BYTES {
                    // The next pass reuses the allocation.
                    let mut buf = buf;
                    buf.clear();
                    st.buf = buf;
                }
                drop(st);
                if self.memory.wants_compaction() {
                    if let Err(e) = self.start_compaction(ks) {
                        tracing::warn!("journal compaction could not start: {e}");
                    }
                }
                Ok(())
            }
            Err(e) => {
                let e = EngineError::from(e);
                if let Some(t) = ticket {
                    let _ = t.done.set(Err(e.to_string()));
                }
                self.has_staged.store(false, Ordering::Release);
                tracing::warn!("journal write failed; lists and strings reloaded from it: {e}");
                self.reload_memory(ks)?;
                Err(e)
            }
        }
    }

    /// Adds a batch's ops to the staging buffer; the ticket they wait on.
    fn stage(&self, p: &mut Pending) -> Arc<StagedTicket> {
        let mut st = lock(&self.staged);
        st.n += std::mem::take(&mut p.n);
        if st.buf.is_empty() {
            st.buf.resize(memory::COUNT_ROOM, 0);
        }
        st.buf.extend_from_slice(&p.buf);
        p.buf.clear();
        self.has_staged.store(true, Ordering::Release);
        st.ticket.get_or_insert_with(Default::default).clone()
    }

    /// Starts a [`MemBatch`].
    pub fn mem_batch(&self) -> MemBatch<'_> {
        let mut ks = lock(&self.ks);
        let pending = Pending {
            buf: std::mem::take(&mut ks.scratch),
            ..Pending::default()
        };
        MemBatch {
            engine: self,
            ks,
            pending,
        }
    }

    /// Drops every list and string and replays the journal again: after a
    /// failed batch write, memory is what the journal holds.
    fn reload_memory(&self, ks: &mut Keyspace) -> Result<(), EngineError> {
        // A compaction ending meanwhile would drop segments under the
        // replay (it never takes the keyspace lock, so this cannot wait
        // for ever).
        self.memory.wait_compaction();
        for db in 0..ks.dbs.len() {
            let mem: Vec<Bytes> = ks.dbs[db]
                .iter()
                .filter(|(_, s)| s.is_mem())
                .map(|(k, _)| k.clone())
                .collect();
            for k in mem {
                ks.remove(db, &k);
                self.watches.notify(db, &k);
            }
        }
        replay_memory(&self.memory.log, ks)?;
        Ok(())
    }

    /// Compacts the journal of lists and strings now (BGREWRITEAOF); with
    /// `wait`, returns once it is done. False when one was running.
    pub fn compact_memory(&self, wait: bool) -> Result<bool, EngineError> {
        let started = {
            let mut ks = lock(&self.ks);
            self.start_compaction(&mut ks)?
        };
        if wait {
            self.memory.wait_compaction();
        }
        Ok(started)
    }

    /// The journal of lists and strings (its size, its compactions and
    /// their thresholds).
    pub fn journal(&self) -> &Journal {
        &self.memory
    }

    /// Runs `f` on database `db` with the keyspace locked: it reads lists
    /// and strings and applies ops through [`MemTxn`]. Returns what `f`
    /// returned and the commit of the last journal record written (to
    /// wait for before replying, under the fsync policy).
    pub fn mem<R>(
        &self,
        db: usize,
        f: impl FnOnce(&mut MemTxn<'_>) -> Result<R, EngineError>,
    ) -> Result<(R, Option<Commit>), EngineError> {
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        let mut txn = MemTxn {
            engine: self,
            ks: &mut ks,
            db,
            commit: None,
            batch: None,
        };
        let r = f(&mut txn);
        let commit = txn.commit.take();
        r.map(|r| (r, commit))
    }
}

/// The keyspace as [`Engine::mem`] hands it over.
pub struct MemTxn<'a> {
    engine: &'a Engine,
    ks: &'a mut Keyspace,
    db: usize,
    commit: Option<Commit>,
    /// In a [`MemBatch`]: the ops applied and not journaled yet.
    batch: Option<&'a mut Pending>,
}

/// Several commands' changes to lists and strings under one hold of the
/// keyspace lock and journaled as one record (a pipeline of LPUSH or RPOP):
/// each op is applied at once and the record is written by
/// [`MemBatch::finish`], before any reply goes out. Should that write
/// fail, the lists and strings are reloaded from the journal, so memory
/// never holds a change the journal lacks.
pub struct MemBatch<'e> {
    engine: &'e Engine,
    ks: MutexGuard<'e, Keyspace>,
    pending: Pending,
}

/// The most room a batch's encoding buffer keeps for the next batch.
const SCRATCH_KEEP_BYTES: usize = 64 * 1024;

/// A batch's ops applied and not journaled yet.
#[derive(Default)]
pub struct Pending {
    /// How many.
    n: u64,
    /// Their encoding, one after the other.
    buf: Vec<u8>,
    /// What the ops staged so far wait on.
    ticket: Option<Arc<StagedTicket>>,
    /// A journal write failed (its error): memory must be reloaded.
    failed: Option<String>,
}

impl Pending {
    /// Journals what is pending, after everything staged before it.
    fn write(&mut self, engine: &Engine, ks: &mut Keyspace) -> Result<(), EngineError> {
        if self.n > 0 {
            self.ticket = Some(engine.stage(self));
        }
        engine.write_staged(ks).inspect_err(|e| {
            self.failed = Some(e.to_string());
        })
    }
}

/// Staging buffers up to this size are kept for the next pass.
const STAGED_KEPT_BYTES: usize = 1 << 20;

impl<'e> MemBatch<'e> {
    /// Runs `f` as [`Engine::mem`] does, inside the batch. Its commit is
    /// the batch's.
    pub fn run<R>(
        &mut self,
        db: usize,
        f: impl FnOnce(&mut MemTxn<'_>) -> Result<R, EngineError>,
    ) -> Result<R, EngineError> {
        self.engine.check_db(&self.ks, db)?;
        let mut txn = MemTxn {
            engine: self.engine,
            ks: &mut self.ks,
            db,
            commit: None,
            batch: Some(&mut self.pending),
        };
        f(&mut txn)
    }

    /// Journals the batch's ops (after any staged before them) and returns
    /// the commit of their record, or `None` when nothing changed.
    pub fn finish(self) -> Result<Option<Commit>, EngineError> {
        let engine = self.engine;
        // The batch lets the keyspace go here, for the write to take it.
        let Some(ticket) = self.stage()? else {
            return Ok(None);
        };
        if ticket.result().is_none() {
            engine.flush_staged()?;
        }
        match ticket.result() {
            Some(Ok(c)) => Ok(Some(c)),
            Some(Err(msg)) => Err(write_failed(engine, msg)),
            None => Err(write_failed(engine, "not written".into())),
        }
    }

    /// Leaves the batch's ops staged for the next [`Engine::flush_staged`]
    /// (or any journal write) to write, with other batches', as one
    /// record. The ticket tells when that happened and how; replies must
    /// wait for it. `None` when nothing changed.
    pub fn stage(mut self) -> Result<Option<Arc<StagedTicket>>, EngineError> {
        if let Some(msg) = self.pending.failed.take() {
            // An earlier write of the batch failed and reloaded memory;
            // what the batch applied since goes the same way.
            self.engine.reload_memory(&mut self.ks)?;
            return Err(write_failed(self.engine, msg));
        }
        if self.pending.n > 0 {
            self.pending.ticket = Some(self.engine.stage(&mut self.pending));
        }
        // Staging copied the ops out: the room serves the next batch,
        // unless a large pipeline left too much of it.
        if self.pending.buf.capacity() <= SCRATCH_KEEP_BYTES {
            self.pending.buf.clear();
            self.ks.scratch = std::mem::take(&mut self.pending.buf);
        }
        Ok(self.pending.ticket.take())
    }
}

/// The error of a journal write that failed (its text kept by a ticket).
fn write_failed(engine: &Engine, msg: String) -> EngineError {
    EngineError::Storage(crate::error::StorageError::Io {
        op: "write",
        path: engine.memory.log.dir().to_path_buf(),
        source: std::io::Error::other(msg),
    })
}

impl MemTxn<'_> {
    /// The database.
    pub fn db(&self) -> usize {
        self.db
    }

    /// The type of `key` (an expired key is removed first).
    pub fn kind(&mut self, key: &[u8]) -> Result<Option<KeyType>, EngineError> {
        if let Some(p) = self.batch.as_deref_mut() {
            // The removal of an expired key is journaled at once: what the
            // batch applied before goes first, to keep the journal's order.
            // Any key with an expiry time: the clock is read again below.
            if self.ks.dbs[self.db]
                .get(key)
                .is_some_and(|s| s.expire() != 0)
            {
                p.write(self.engine, self.ks)?;
            }
        }
        self.engine.reap(self.ks, self.db, key)?;
        Ok(self.ks.dbs[self.db].get(key).map(|s| s.kind))
    }

    /// Calls `f` with the list at `key` (`None` when missing); WRONGTYPE
    /// when the key holds something else.
    pub fn list<R>(
        &mut self,
        key: &[u8],
        f: impl FnOnce(Option<&std::collections::VecDeque<Bytes>>) -> R,
    ) -> Result<R, EngineError> {
        match self.kind(key)? {
            None => Ok(f(None)),
            Some(KeyType::List) => {
                let slot = self.ks.dbs[self.db].get(key).cloned();
                let v = slot.as_ref().map(|s| s.value());
                match v.as_deref() {
                    Some(Some(Value::List(l))) => Ok(f(Some(l))),
                    _ => Ok(f(None)),
                }
            }
            Some(_) => Err(EngineError::WrongType),
        }
    }

    /// The string at `key` (`None` when missing); WRONGTYPE when the key
    /// holds something else.
    pub fn string(&mut self, key: &[u8]) -> Result<Option<Bytes>, EngineError> {
        match self.kind(key)? {
            None => Ok(None),
            Some(KeyType::String) => {
                let slot = self.ks.dbs[self.db].get(key).cloned();
                let v = slot.as_ref().map(|s| s.value().clone());
                match v {
                    Some(Some(Value::Str(b))) => Ok(Some(b)),
                    _ => Ok(None),
                }
            }
            Some(_) => Err(EngineError::WrongType),
        }
    }

    /// The expiry time of `key` (Unix ms, 0 for none or missing).
    pub fn expire_at(&mut self, key: &[u8]) -> Result<u64, EngineError> {
        self.kind(key)?;
        Ok(self.ks.dbs[self.db].get(key).map_or(0, |s| s.expire()))
    }

    /// Deletes `key` whatever it holds (SET over a stream). True when it
    /// existed.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, EngineError> {
        self.kind(key)?;
        let Some(slot) = self.ks.dbs[self.db].get(key).cloned() else {
            return Ok(false);
        };
        self.engine.remove_slot(self.ks, self.db, key, &slot)?;
        Ok(true)
    }

    /// Journals `ops` (one record), then applies them; returns their
    /// outcomes. The caller checked the types.
    pub fn apply(&mut self, ops: Vec<Op>) -> Result<Vec<Outcome>, EngineError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let touched: Vec<(usize, Bytes)> = ops.iter().flat_map(Op::touched).collect();
        let outs = match self.batch.as_deref_mut() {
            Some(p) => {
                let mut outs = Vec::with_capacity(ops.len());
                for op in ops {
                    let at = p.buf.len();
                    op.encode_into(&mut p.buf);
                    match memory::apply(self.ks, op) {
                        Ok(o) => outs.push(o),
                        Err(r) => {
                            // Not applied, so not journaled.
                            p.buf.truncate(at);
                            return Err(refused(r));
                        }
                    }
                    p.n += 1;
                }
                outs
            }
            None => {
                let (outs, commit) = self.engine.mem_write(self.ks, ops)?;
                self.commit = Some(commit);
                outs
            }
        };
        for (db, key) in touched {
            self.engine.watches.notify(db, &key);
        }
        Ok(outs)
    }
}

/// Expired keys kept for [`Engine::take_expired`].
const EXPIRED_KEPT: usize = 10_000;

impl Drop for Engine {
    fn drop(&mut self) {
        // Staged ops are written, and a compaction thread holding the
        // journal ends, before the files can be opened again.
        if let Err(e) = self.flush_staged() {
            tracing::warn!("staged list and string ops not journaled at close: {e}");
        }
        self.memory.wait_compaction();
    }
}

fn refused(r: Refused) -> EngineError {
    match r {
        Refused::WrongType => EngineError::WrongType,
        Refused::DbIndex => EngineError::DbIndex,
    }
}

/// Replays the journal into `ks` (which holds the catalog's streams). The
/// ops are replayed on their own keyspace first, then merged: a key that a
/// stream holds stays the stream's (see [`super::memory`]). Returns the
/// journal's last key, the lists and strings kept, and those dropped.
fn replay_memory(j: &Log, ks: &mut Keyspace) -> Result<(u128, u64, u64), EngineError> {
    let n = ks.dbs.len();
    let mut mem = Keyspace {
        dbs: vec![BTreeMap::new(); n],
        scan: vec![BTreeSet::new(); n],
        next_sid: 1,
        catalog_key: 0,
        since_snapshot: 0,
        scratch: Vec::new(),
    };
    let last = Journal::replay(j, |op| {
        // A database beyond `databases` (the setting shrank): skipped.
        let _ = memory::apply(&mut mem, op);
    })?;
    let (mut kept, mut dropped) = (0, 0);
    let now = now_ms();
    for (db, m) in std::mem::take(&mut mem.dbs).into_iter().enumerate() {
        for (key, slot) in m {
            if slot.expired(now) {
                continue;
            }
            if ks.dbs[db].contains_key(&key) {
                dropped += 1;
                continue;
            }
            ks.insert(db, key, slot);
            kept += 1;
        }
    }
    Ok((last, kept, dropped))
}

/// Copies every record of `from` into the empty log `to`, durably.
fn copy_log(from: &Log, to: &Log) -> Result<(), EngineError> {
    let mut batch: Vec<(u8, u128, Bytes)> = Vec::new();
    let mut bytes = 0usize;
    let flush = |batch: &mut Vec<(u8, u128, Bytes)>| -> Result<(), EngineError> {
        let entries: Vec<Entry> = batch
            .iter()
            .map(|(kind, key, p)| Entry {
                kind: *kind,
                key: *key,
                payload: p,
            })
            .collect();
        if !entries.is_empty() {
            // Made durable by the sync at the end.
            drop(to.submit(&entries)?);
        }
        batch.clear();
        Ok(())
    };
    for rec in from.iter_from(0)? {
        let rec = rec?;
        bytes += rec.payload.len();
        batch.push((rec.kind, rec.key, rec.payload));
        if bytes >= 1 << 20 {
            flush(&mut batch)?;
            bytes = 0;
        }
    }
    flush(&mut batch)?;
    to.sync()?;
    Ok(())
}

/// Catalog records replayed into a scratch keyspace, as opening does, for
/// `brook verify`: a record that does not decode is found without opening
/// (and so without writing to) the data directory.
pub struct CatalogCheck {
    ks: Keyspace,
    by_sid: HashMap<u64, (usize, Bytes)>,
}

impl CatalogCheck {
    /// A check for a server started with `databases` databases.
    pub fn new(databases: usize) -> CatalogCheck {
        let dbs = databases.max(1);
        CatalogCheck {
            ks: Keyspace {
                dbs: vec![BTreeMap::new(); dbs],
                scan: vec![BTreeSet::new(); dbs],
                next_sid: 1,
                catalog_key: 0,
                since_snapshot: 0,
                scratch: Vec::new(),
            },
            by_sid: HashMap::new(),
        }
    }
}

impl CatalogCheck {
    /// Applies the next catalog record; false when it does not decode.
    pub fn record(&mut self, kind: u8, payload: &[u8]) -> bool {
        let payload = Bytes::copy_from_slice(payload);
        apply_catalog(&mut self.ks, &mut self.by_sid, kind, payload).is_ok()
    }
}

fn apply_catalog(
    ks: &mut Keyspace,
    by_sid: &mut HashMap<u64, (usize, Bytes)>,
    kind: u8,
    payload: Bytes,
) -> Result<(), Malformed> {
    let max = payload.len();
    let mut r = Reader::new(payload);
    let put = |ks: &mut Keyspace,
               by_sid: &mut HashMap<u64, (usize, Bytes)>,
               r: &mut Reader,
               layout: u8| {
        let sid = r.u64()?;
        let db = r.len(ks.dbs.len().saturating_sub(1))?;
        let kind = KeyType::from_code(r.u64()?)?;
        let key = r.bytes()?;
        let settings = if layout >= 2 {
            StreamSettings::decode(r)?
        } else {
            StreamSettings::default()
        };
        let expire = if layout >= 3 { r.u64()? } else { 0 };
        ks.next_sid = ks.next_sid.max(sid.saturating_add(1));
        by_sid.insert(sid, (db, key.clone()));
        let slot = Slot::new(sid, kind, settings);
        slot.expire_at.store(expire, Ordering::Release);
        ks.insert(db, key, slot);
        Ok::<(), Malformed>(())
    };
    match kind {
        CAT_SNAPSHOT | CAT_SNAPSHOT_V2 | CAT_SNAPSHOT_V1 => {
            for d in &mut ks.dbs {
                d.clear();
            }
            for s in &mut ks.scan {
                s.clear();
            }
            by_sid.clear();
            ks.next_sid = r.u64()?;
            let n = r.len(max)?;
            for _ in 0..n {
                let layout = match kind {
                    CAT_SNAPSHOT_V1 => 1,
                    CAT_SNAPSHOT_V2 => 2,
                    _ => 3,
                };
                put(ks, by_sid, &mut r, layout)?;
            }
        }
        CAT_PUT => put(ks, by_sid, &mut r, 1)?,
        CAT_RENAME => {
            let sid = r.u64()?;
            let to = r.len(ks.dbs.len().saturating_sub(1))?;
            let new_key = r.bytes()?;
            if let Some((db, key)) = by_sid.get(&sid).cloned() {
                if let Some(slot) = ks.remove(db, &key) {
                    ks.insert(to, new_key.clone(), slot);
                }
                by_sid.insert(sid, (to, new_key));
            }
        }
        CAT_EXPIRE => {
            let sid = r.u64()?;
            let at = r.u64()?;
            if let Some((db, key)) = by_sid.get(&sid) {
                if let Some(slot) = ks.dbs[*db].get(key) {
                    slot.expire_at.store(at, Ordering::Release);
                }
            }
        }
        CAT_SETTINGS => {
            let sid = r.u64()?;
            let settings = StreamSettings::decode(&mut r)?;
            if let Some((db, key)) = by_sid.get(&sid) {
                if let Some(slot) = ks.dbs[*db].get(key) {
                    *lock(&slot.settings) = settings;
                }
            }
        }
        CAT_DEL => {
            let sid = r.u64()?;
            if let Some((db, key)) = by_sid.remove(&sid) {
                ks.remove(db, &key);
            }
        }
        CAT_SETDB => {
            let sid = r.u64()?;
            let to = r.len(ks.dbs.len().saturating_sub(1))?;
            if let Some((db, key)) = by_sid.get(&sid).cloned() {
                if let Some(slot) = ks.remove(db, &key) {
                    ks.insert(to, key.clone(), slot);
                }
                by_sid.insert(sid, (to, key));
            }
        }
        CAT_SWAP => {
            let a = r.len(ks.dbs.len().saturating_sub(1))?;
            let b = r.len(ks.dbs.len().saturating_sub(1))?;
            ks.dbs.swap(a, b);
            ks.scan.swap(a, b);
            for (db, _) in by_sid.values_mut() {
                if *db == a {
                    *db = b;
                } else if *db == b {
                    *db = a;
                }
            }
        }
        _ => return Err(Malformed),
    }
    if !r.is_empty() {
        return Err(Malformed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_keyspace() -> Keyspace {
        Keyspace {
            dbs: vec![BTreeMap::new(); 16],
            scan: vec![BTreeSet::new(); 16],
            next_sid: 1,
            catalog_key: 0,
            since_snapshot: 0,
            scratch: Vec::new(),
        }
    }

    #[test]
    fn both_snapshot_layouts_replay() {
        // Layout 1 (kind 1), as the first build wrote it: next_sid 9, one
        // stream (sid 3, db 2, type 1, key "k"), no settings.
        let v1: &[u8] = &[9, 1, 3, 2, 1, 1, b'k'];
        let mut ks = empty_keyspace();
        let mut by_sid = HashMap::new();
        apply_catalog(&mut ks, &mut by_sid, 1, Bytes::from_static(v1)).unwrap();
        let slot = ks.dbs[2].get(&b"k"[..]).unwrap();
        assert_eq!((slot.sid, ks.next_sid), (3, 9));
        assert_eq!(*lock(&slot.settings), StreamSettings::default());
        // Layout 2 (kind 7): the same, then the settings (mask 8: max bytes
        // 100).
        let v2: &[u8] = &[9, 1, 3, 2, 1, 1, b'k', 8, 100];
        let mut ks = empty_keyspace();
        apply_catalog(&mut ks, &mut by_sid, 7, Bytes::from_static(v2)).unwrap();
        let slot = ks.dbs[2].get(&b"k"[..]).unwrap();
        assert_eq!(lock(&slot.settings).max_bytes, Some(100));
        // Layout 3 (kind 10): then the expiry time (0: none; here 5).
        let v3: &[u8] = &[9, 1, 3, 2, 1, 1, b'k', 8, 100, 5];
        let mut ks = empty_keyspace();
        apply_catalog(&mut ks, &mut by_sid, 10, Bytes::from_static(v3)).unwrap();
        let slot = ks.dbs[2].get(&b"k"[..]).unwrap();
        assert_eq!(
            (lock(&slot.settings).max_bytes, slot.expire()),
            (Some(100), 5)
        );
        assert!(apply_catalog(&mut ks, &mut by_sid, 10, Bytes::from_static(v2)).is_err());
        // Each layout read as the other is corrupt, not misread.
        let mut ks = empty_keyspace();
        assert!(apply_catalog(&mut ks, &mut by_sid, 1, Bytes::from_static(v2)).is_err());
        assert!(apply_catalog(&mut ks, &mut by_sid, 7, Bytes::from_static(v1)).is_err());
    }
}
