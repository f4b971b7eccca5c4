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
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::codec::{self, Malformed, Reader};
use super::glob::glob_match;
use super::settings::StreamSettings;
use super::stream::{NodeLimits, Stream};
use crate::config::{FsyncPolicy, LogConfig, StoreConfig};
use crate::error::EngineError;
use crate::storage::{Entry, FsIo, Io, Log, Store};

/// The type a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    /// A stream.
    Stream,
}

impl KeyType {
    /// The name TYPE replies with.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Stream => "stream",
        }
    }

    fn code(self) -> u64 {
        match self {
            KeyType::Stream => 1,
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
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            store: StoreConfig::default(),
            databases: 16,
            node_limits: NodeLimits::default(),
            stream_defaults: StreamSettings::default(),
        }
    }
}

pub(super) struct Slot {
    pub(super) sid: u64,
    pub(super) kind: KeyType,
    settings: Mutex<StreamSettings>,
    stream: Mutex<Option<Arc<Stream>>>,
}

impl Slot {
    fn new(sid: u64, kind: KeyType, settings: StreamSettings) -> Arc<Slot> {
        Arc::new(Slot {
            sid,
            kind,
            settings: Mutex::new(settings),
            stream: Mutex::new(None),
        })
    }
}

pub(super) struct Keyspace {
    pub(super) dbs: Vec<BTreeMap<Bytes, Arc<Slot>>>,
    /// Per database, keys ordered by (hash, key): SCAN's cursor order.
    scan: Vec<BTreeSet<(u64, Bytes)>>,
    next_sid: u64,
    catalog_key: u128,
    since_snapshot: u64,
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
}

const CATALOG: &str = "catalog";
/// The first snapshot layout (no settings): read, no longer written.
const CAT_SNAPSHOT_V1: u8 = 1;
const CAT_SNAPSHOT: u8 = 7;
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
    fn insert(&mut self, db: usize, key: Bytes, slot: Arc<Slot>) {
        self.scan[db].insert((scan_hash(&key), key.clone()));
        self.dbs[db].insert(key, slot);
    }

    fn remove(&mut self, db: usize, key: &[u8]) -> Option<Arc<Slot>> {
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
        };
        // Replay from the last snapshot.
        let mut recs = Vec::new();
        for rec in catalog.iter_back_from(u128::MAX)? {
            let rec = rec?;
            let snap = rec.kind == CAT_SNAPSHOT || rec.kind == CAT_SNAPSHOT_V1;
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
        let live: usize = ks.dbs.iter().map(|d| d.len()).sum();
        if ks.since_snapshot > 1024.max(2 * live as u64) {
            let mut b = Vec::new();
            codec::put_u64(&mut b, ks.next_sid);
            codec::put_u64(&mut b, live as u64);
            for (db, m) in ks.dbs.iter().enumerate() {
                for (k, slot) in m {
                    codec::put_u64(&mut b, slot.sid);
                    codec::put_u64(&mut b, db as u64);
                    codec::put_u64(&mut b, slot.kind.code());
                    codec::put_bytes(&mut b, k);
                    lock(&slot.settings).encode_into(&mut b);
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
            let ks = lock(&self.ks);
            self.check_db(&ks, db)?;
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
        let ks = lock(&self.ks);
        self.check_db(&ks, db)?;
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
        let slot = {
            let mut ks = lock(&self.ks);
            self.check_db(&ks, db)?;
            let Some(slot) = ks.dbs[db].get(key).cloned() else {
                return Ok(false);
            };
            let mut b = Vec::new();
            codec::put_u64(&mut b, slot.sid);
            self.write_catalog(&mut ks, CAT_DEL, &b)?;
            ks.remove(db, key);
            slot
        };
        *lock(&slot.stream) = None;
        let name = log_name(slot.sid);
        self.store.remove(&name)?;
        self.store.remove(&format!("{name}.m"))?;
        self.watches.notify(db, key);
        Ok(true)
    }

    /// EXISTS of one key.
    pub fn exists(&self, db: usize, key: &[u8]) -> Result<bool, EngineError> {
        let ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        Ok(ks.dbs[db].contains_key(key))
    }

    /// TYPE: the key's type, `None` when missing.
    pub fn key_type(&self, db: usize, key: &[u8]) -> Result<Option<KeyType>, EngineError> {
        let ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        Ok(ks.dbs[db].get(key).map(|s| s.kind))
    }

    /// KEYS: every key of `db` matching the glob `pattern`.
    pub fn keys(&self, db: usize, pattern: &[u8]) -> Result<Vec<Bytes>, EngineError> {
        let ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        Ok(ks.dbs[db]
            .keys()
            .filter(|k| glob_match(pattern, k, false))
            .cloned()
            .collect())
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
        let mut visit = |k: &Bytes| {
            let Some(slot) = ks.dbs[db].get(k) else {
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
        if db == to {
            return Err(EngineError::SameObject);
        }
        let Some(slot) = ks.dbs[db].get(key).cloned() else {
            return Ok(false);
        };
        if ks.dbs[to].contains_key(key) {
            return Ok(false);
        }
        let mut b = Vec::new();
        codec::put_u64(&mut b, slot.sid);
        codec::put_u64(&mut b, to as u64);
        self.write_catalog(&mut ks, CAT_SETDB, &b)?;
        ks.remove(db, key);
        ks.insert(to, Bytes::copy_from_slice(key), slot);
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
        ks.dbs.swap(a, b);
        ks.scan.swap(a, b);
        Ok(())
    }

    /// Opens every stream (each reads only its tail) and reports what was
    /// recovered: the server logs it at start.
    pub fn open_all(&self) -> Result<Recovery, EngineError> {
        let slots: Vec<Arc<Slot>> = {
            let ks = lock(&self.ks);
            ks.dbs.iter().flat_map(|d| d.values().cloned()).collect()
        };
        let mut r = Recovery::default();
        for slot in slots {
            let st = self.open_stream(&slot)?;
            r.streams += 1;
            r.entries += st.len();
            r.torn_bytes += st.torn_bytes();
        }
        r.torn_bytes += self.catalog.recovery().torn_bytes;
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
               with_settings: bool| {
        let sid = r.u64()?;
        let db = r.len(ks.dbs.len().saturating_sub(1))?;
        let kind = KeyType::from_code(r.u64()?)?;
        let key = r.bytes()?;
        let settings = if with_settings {
            StreamSettings::decode(r)?
        } else {
            StreamSettings::default()
        };
        ks.next_sid = ks.next_sid.max(sid.saturating_add(1));
        by_sid.insert(sid, (db, key.clone()));
        ks.insert(db, key, Slot::new(sid, kind, settings));
        Ok::<(), Malformed>(())
    };
    match kind {
        CAT_SNAPSHOT | CAT_SNAPSHOT_V1 => {
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
                put(ks, by_sid, &mut r, kind == CAT_SNAPSHOT)?;
            }
        }
        CAT_PUT => put(ks, by_sid, &mut r, false)?,
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
        // Each layout read as the other is corrupt, not misread.
        let mut ks = empty_keyspace();
        assert!(apply_catalog(&mut ks, &mut by_sid, 1, Bytes::from_static(v2)).is_err());
        assert!(apply_catalog(&mut ks, &mut by_sid, 7, Bytes::from_static(v1)).is_err());
    }
}
