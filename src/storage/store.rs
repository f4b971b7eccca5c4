//! A store: a data directory holding many logs, for example one per stream
//! (event sourcing keeps one per aggregate, so 100 k+ logs is normal).
//!
//! Layout: `DIR/brook.lock` (held with `flock` while the store is open, so a
//! second process fails with a clear error) and `DIR/logs/NAME/` per log.
//!
//! Logs are opened lazily and at most `max_open_logs` stay open; the least
//! recently used are closed (synced as their policy requires) beyond that.
//! A handle given out keeps its log open until it is dropped.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::io::{DirLock, Io, lock_holder};
use super::log::Log;
use crate::config::{LogConfig, StoreConfig};
use crate::error::{Result, StorageError};

/// Name of the lock file in a data directory.
pub const LOCK_FILE: &str = "brook.lock";
/// Directory of the logs in a data directory.
pub const LOGS_DIR: &str = "logs";

struct Cache {
    logs: HashMap<String, (Arc<Log>, u64)>,
    order: BTreeMap<u64, String>,
    clock: u64,
    /// Logs evicted from `logs` while a caller still held them: asking for
    /// one again must return that same instance, never open a second
    /// writer on its files.
    evicted: HashMap<String, Weak<Log>>,
}

/// A data directory of named logs.
pub struct Store {
    root: PathBuf,
    io: Arc<dyn Io>,
    cfg: StoreConfig,
    cache: Mutex<Cache>,
    _lock: Box<dyn DirLock>,
}

/// Checks that a log name is one safe path component.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(StorageError::BadName {
            name: name.to_string(),
        })
    }
}

impl Store {
    /// Opens (creating if missing) the data directory `root` and locks it.
    /// Fails with [`StorageError::Locked`] when another process holds it.
    pub fn open(io: Arc<dyn Io>, root: impl Into<PathBuf>, cfg: StoreConfig) -> Result<Store> {
        let root = root.into();
        if !io.exists(&root) {
            io.create_dir_all(&root)
                .map_err(|e| StorageError::io("mkdir", &root, e))?;
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                io.sync_dir(parent)
                    .map_err(|e| StorageError::io("fsync", parent, e))?;
            }
        }
        let lock_path = root.join(LOCK_FILE);
        let lock = io.lock(&lock_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                StorageError::Locked {
                    dir: root.clone(),
                    holder: lock_holder(&lock_path),
                }
            } else {
                StorageError::io("lock", &lock_path, e)
            }
        })?;
        let logs = root.join(LOGS_DIR);
        if !io.exists(&logs) {
            io.create_dir_all(&logs)
                .map_err(|e| StorageError::io("mkdir", &logs, e))?;
            io.sync_dir(&root)
                .map_err(|e| StorageError::io("fsync", &root, e))?;
        }
        Ok(Store {
            root,
            io,
            cfg,
            cache: Mutex::new(Cache {
                logs: HashMap::new(),
                order: BTreeMap::new(),
                clock: 0,
                evicted: HashMap::new(),
            }),
            _lock: lock,
        })
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn log_dir(&self, name: &str) -> PathBuf {
        self.root.join(LOGS_DIR).join(name)
    }

    /// The log `name`, with the store's default settings, created if missing.
    pub fn log(&self, name: &str) -> Result<Arc<Log>> {
        self.log_with(name, self.cfg.log.clone())
    }

    /// The log `name`, created if missing, opened with `cfg` unless it is
    /// already open.
    pub fn log_with(&self, name: &str, cfg: LogConfig) -> Result<Arc<Log>> {
        check_name(name)?;
        let mut c = self.cache();
        c.clock += 1;
        let now = c.clock;
        if let Some((log, used)) = c.logs.get_mut(name) {
            let log = log.clone();
            let old = std::mem::replace(used, now);
            c.order.remove(&old);
            c.order.insert(now, name.to_string());
            return Ok(log);
        }
        let held = c.evicted.remove(name).and_then(|w| w.upgrade());
        let log = match held {
            Some(log) => log,
            None => Arc::new(Log::open_in(
                self.io.clone(),
                self.log_dir(name),
                Some(self.root.clone()),
                cfg,
            )?),
        };
        c.logs.insert(name.to_string(), (log.clone(), now));
        c.order.insert(now, name.to_string());
        while c.logs.len() > self.cfg.max_open_logs.max(1) {
            let Some((_, victim)) = c.order.pop_first() else {
                break;
            };
            // Dropping the store's handle closes the log once no one else
            // holds it (Log's Drop syncs as its policy requires).
            if let Some((log, _)) = c.logs.remove(&victim) {
                if Arc::strong_count(&log) > 1 {
                    c.evicted.insert(victim, Arc::downgrade(&log));
                }
            }
        }
        if c.evicted.len() > self.cfg.max_open_logs.max(1) {
            c.evicted.retain(|_, w| w.strong_count() > 0);
        }
        Ok(log)
    }

    /// True when a log of this name exists on disk.
    pub fn contains(&self, name: &str) -> bool {
        check_name(name).is_ok() && self.io.exists(&self.log_dir(name))
    }

    /// Names of every log on disk, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let dir = self.root.join(LOGS_DIR);
        let mut names: Vec<String> = self
            .io
            .read_dir(&dir)
            .map_err(|e| StorageError::io("readdir", &dir, e))?
            .into_iter()
            .filter(|n| check_name(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Deletes a log and its files. Handles to it that callers still hold
    /// must not be used afterwards: their appends would go to deleted files.
    pub fn remove(&self, name: &str) -> Result<()> {
        check_name(name)?;
        {
            let mut c = self.cache();
            if let Some((_, used)) = c.logs.remove(name) {
                c.order.remove(&used);
            }
            c.evicted.remove(name);
        }
        let dir = self.log_dir(name);
        if !self.io.exists(&dir) {
            return Ok(());
        }
        for f in self
            .io
            .read_dir(&dir)
            .map_err(|e| StorageError::io("readdir", &dir, e))?
        {
            let p = dir.join(f);
            self.io
                .remove_file(&p)
                .map_err(|e| StorageError::io("unlink", &p, e))?;
        }
        self.io
            .remove_dir(&dir)
            .map_err(|e| StorageError::io("rmdir", &dir, e))?;
        let parent = self.root.join(LOGS_DIR);
        self.io
            .sync_dir(&parent)
            .map_err(|e| StorageError::io("fsync", &parent, e))
    }

    /// Number of logs open now.
    pub fn open_logs(&self) -> usize {
        self.cache().logs.len()
    }

    /// Every open log.
    pub fn open_log_handles(&self) -> Vec<Arc<Log>> {
        self.cache().logs.values().map(|(l, _)| l.clone()).collect()
    }

    /// Syncs every open log.
    pub fn sync_all(&self) -> Result<()> {
        let logs: Vec<Arc<Log>> = self.cache().logs.values().map(|(l, _)| l.clone()).collect();
        for l in logs {
            l.sync()?;
        }
        Ok(())
    }
}
