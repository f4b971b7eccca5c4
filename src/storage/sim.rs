//! A simulated disk for crash and fault tests (feature `sim-io`).
//!
//! It keeps two states of everything: what the process sees (volatile) and
//! what would survive a power cut (durable). `fdatasync` copies a file's
//! volatile bytes to its durable bytes; a directory fsync copies that
//! directory's entries; `syncfs` does both for everything. [`SimIo::power_cut`]
//! returns the disk as it would be after power returns: every byte not
//! covered by a completed fdatasync is gone, and so is every directory entry
//! not covered by a directory fsync. [`SimIo::process_crash`] keeps
//! everything (the page cache survives a process kill) but releases locks.
//!
//! Faults: [`SimIo::set_capacity`] makes allocations and writes past a byte
//! budget fail with ENOSPC; [`SimIo::fail_syncs`] makes the next fdatasyncs
//! fail with EIO.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::SystemTime;

use bytes::Bytes;

use super::io::{DirLock, FileRef, Io, IoFile};

#[derive(Default)]
struct Disk {
    /// Syncs hold it shared, a power cut exclusively, so that a cut sees
    /// every sync either done or not begun: a real power cut is one instant.
    instant: RwLock<()>,
    /// Bytes held by all volatile files (max of length and allocation).
    used: Mutex<u64>,
    capacity: Mutex<Option<u64>>,
    fail_syncs: AtomicU32,
}

impl Disk {
    /// Consumes one injected fsync failure, if any is left.
    fn take_sync_failure(&self) -> bool {
        self.fail_syncs
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Data {
    volatile: Vec<u8>,
    durable: Vec<u8>,
    modified: SystemTime,
}

struct SimFile {
    disk: Arc<Disk>,
    data: Mutex<Data>,
}

impl SimFile {
    fn new(disk: Arc<Disk>, content: Vec<u8>) -> Arc<SimFile> {
        Arc::new(SimFile {
            disk,
            data: Mutex::new(Data {
                durable: content.clone(),
                volatile: content,
                modified: SystemTime::now(),
            }),
        })
    }

    /// Resizes the volatile bytes, charging the disk.
    fn resize(&self, d: &mut Data, len: usize) -> io::Result<()> {
        let old = d.volatile.len() as u64;
        let new = len as u64;
        let mut used = lock(&self.disk.used);
        if new > old {
            if let Some(cap) = *lock(&self.disk.capacity) {
                if *used + (new - old) > cap {
                    return Err(io::Error::from_raw_os_error(
                        rustix::io::Errno::NOSPC.raw_os_error(),
                    ));
                }
            }
            *used += new - old;
        } else {
            *used -= old - new;
        }
        d.volatile.resize(len, 0);
        Ok(())
    }
}

impl IoFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.data).volatile.len() as u64)
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let mut d = lock(&self.data);
        let end = offset as usize + buf.len();
        if end > d.volatile.len() {
            self.resize(&mut d, end)?;
        }
        d.volatile[offset as usize..end].copy_from_slice(buf);
        d.modified = SystemTime::now();
        Ok(())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let d = lock(&self.data);
        let src = d
            .volatile
            .get(offset as usize..offset as usize + buf.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        let mut d = lock(&self.data);
        if len as usize > d.volatile.len() {
            self.resize(&mut d, len as usize)?;
        }
        Ok(())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut d = lock(&self.data);
        self.resize(&mut d, len as usize)?;
        d.modified = SystemTime::now();
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        if self.disk.take_sync_failure() {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::IO.raw_os_error(),
            ));
        }
        let _instant = self.disk.instant.read().unwrap_or_else(|e| e.into_inner());
        let mut d = lock(&self.data);
        d.durable = d.volatile.clone();
        Ok(())
    }
    fn map(&self, len: u64) -> io::Result<Bytes> {
        let d = lock(&self.data);
        let view = d
            .volatile
            .get(..len as usize)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "map past end of file"))?;
        Ok(Bytes::copy_from_slice(view))
    }
    fn modified(&self) -> io::Result<SystemTime> {
        Ok(lock(&self.data).modified)
    }
}

#[derive(Default)]
struct Names {
    files: HashMap<PathBuf, Arc<SimFile>>,
    dirs: BTreeSet<PathBuf>,
}

#[derive(Default)]
struct State {
    volatile: Names,
    durable: Names,
}

/// The simulated disk. Clone the `Arc` to share it.
pub struct SimIo {
    disk: Arc<Disk>,
    state: Mutex<State>,
    locks: Arc<Mutex<HashSet<PathBuf>>>,
}

struct SimLock {
    path: PathBuf,
    locks: Arc<Mutex<HashSet<PathBuf>>>,
}

impl DirLock for SimLock {}

impl Drop for SimLock {
    fn drop(&mut self) {
        lock(&self.locks).remove(&self.path);
    }
}

fn not_found() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

impl SimIo {
    /// An empty disk with unlimited space.
    pub fn new() -> Arc<SimIo> {
        Arc::new(SimIo {
            disk: Arc::new(Disk::default()),
            state: Mutex::new(State::default()),
            locks: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// Limits the bytes all files may hold; `None` lifts the limit.
    pub fn set_capacity(&self, bytes: Option<u64>) {
        *lock(&self.disk.capacity) = bytes;
    }

    /// Bytes all files hold now.
    pub fn used(&self) -> u64 {
        *lock(&self.disk.used)
    }

    /// Makes the next `n` fdatasyncs fail with EIO.
    pub fn fail_syncs(&self, n: u32) {
        self.disk.fail_syncs.store(n, Ordering::SeqCst);
    }

    /// The disk after a power cut: only what was made durable survives.
    pub fn power_cut(&self) -> Arc<SimIo> {
        let _instant = self.disk.instant.write().unwrap_or_else(|e| e.into_inner());
        let st = lock(&self.state);
        let disk = Arc::new(Disk::default());
        let mut names = Names {
            dirs: st.durable.dirs.clone(),
            ..Names::default()
        };
        let mut used = 0;
        for (p, f) in &st.durable.files {
            let content = lock(&f.data).durable.clone();
            used += content.len() as u64;
            names
                .files
                .insert(p.clone(), SimFile::new(disk.clone(), content));
        }
        *lock(&disk.used) = used;
        let durable = Names {
            files: names.files.clone(),
            dirs: names.dirs.clone(),
        };
        Arc::new(SimIo {
            disk,
            state: Mutex::new(State {
                volatile: names,
                durable,
            }),
            locks: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// The disk after the process was killed: everything written survives,
    /// locks are released.
    pub fn process_crash(&self) -> Arc<SimIo> {
        let st = lock(&self.state);
        let disk = Arc::new(Disk::default());
        let mut used = 0;
        let mut map = HashMap::new();
        let mut durable_map = HashMap::new();
        for (p, f) in &st.volatile.files {
            let d = lock(&f.data);
            used += d.volatile.len() as u64;
            let nf = Arc::new(SimFile {
                disk: disk.clone(),
                data: Mutex::new(Data {
                    volatile: d.volatile.clone(),
                    durable: d.durable.clone(),
                    modified: d.modified,
                }),
            });
            if st.durable.files.get(p).is_some_and(|df| Arc::ptr_eq(df, f)) {
                durable_map.insert(p.clone(), nf.clone());
            }
            map.insert(p.clone(), nf);
        }
        *lock(&disk.used) = used;
        Arc::new(SimIo {
            disk,
            state: Mutex::new(State {
                volatile: Names {
                    files: map,
                    dirs: st.volatile.dirs.clone(),
                },
                durable: Names {
                    files: durable_map,
                    dirs: st.durable.dirs.clone(),
                },
            }),
            locks: Arc::new(Mutex::new(HashSet::new())),
        })
    }

    /// Applies `f` to the volatile bytes of a file (to simulate damage).
    pub fn with_file_bytes(&self, path: &Path, f: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let file = lock(&self.state)
            .volatile
            .files
            .get(path)
            .cloned()
            .ok_or_else(not_found)?;
        let mut d = lock(&file.data);
        f(&mut d.volatile);
        Ok(())
    }

    /// Paths of every file, sorted.
    pub fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = lock(&self.state).volatile.files.keys().cloned().collect();
        v.sort();
        v
    }
}

fn parent_is(p: &Path, dir: &Path) -> bool {
    p.parent() == Some(dir)
}

impl Io for SimIo {
    fn open(&self, path: &Path, create: bool) -> io::Result<FileRef> {
        let mut st = lock(&self.state);
        if let Some(f) = st.volatile.files.get(path) {
            return Ok(f.clone());
        }
        if !create {
            return Err(not_found());
        }
        let parent = path.parent().ok_or_else(not_found)?;
        if !st.volatile.dirs.contains(parent) {
            return Err(not_found());
        }
        let f = SimFile::new(self.disk.clone(), Vec::new());
        st.volatile.files.insert(path.to_path_buf(), f.clone());
        Ok(f)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        let mut p = Some(path);
        while let Some(d) = p {
            if d.as_os_str().is_empty() {
                break;
            }
            st.volatile.dirs.insert(d.to_path_buf());
            p = d.parent();
        }
        Ok(())
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let st = lock(&self.state);
        if !st.volatile.dirs.contains(path) {
            return Err(not_found());
        }
        let files = st.volatile.files.keys().filter(|p| parent_is(p, path));
        let dirs = st.volatile.dirs.iter().filter(|p| parent_is(p, path));
        Ok(files
            .chain(dirs)
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }
    fn exists(&self, path: &Path) -> bool {
        let st = lock(&self.state);
        st.volatile.files.contains_key(path) || st.volatile.dirs.contains(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let f = lock(&self.state)
            .volatile
            .files
            .remove(path)
            .ok_or_else(not_found)?;
        // The blocks are freed once the name is gone (no other names here).
        let len = lock(&f.data).volatile.len() as u64;
        let mut used = lock(&self.disk.used);
        *used = used.saturating_sub(len);
        Ok(())
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        let busy = st.volatile.files.keys().any(|p| parent_is(p, path))
            || st.volatile.dirs.iter().any(|p| parent_is(p, path));
        if busy {
            return Err(io::Error::other("directory not empty"));
        }
        st.volatile.dirs.remove(path);
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        let f = st.volatile.files.remove(from).ok_or_else(not_found)?;
        st.volatile.files.insert(to.to_path_buf(), f);
        Ok(())
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let _instant = self.disk.instant.read().unwrap_or_else(|e| e.into_inner());
        let mut st = lock(&self.state);
        let State { volatile, durable } = &mut *st;
        durable.files.retain(|p, _| !parent_is(p, path));
        durable.dirs.retain(|p| !parent_is(p, path));
        for (p, f) in &volatile.files {
            if parent_is(p, path) {
                durable.files.insert(p.clone(), f.clone());
            }
        }
        for d in &volatile.dirs {
            if parent_is(d, path) {
                durable.dirs.insert(d.clone());
            }
        }
        // The directory itself must exist to hold entries; its own entry
        // in its parent is the parent's business, but the root of the
        // simulation is always there.
        if path
            .parent()
            .is_none_or(|p| p.as_os_str().is_empty() || !volatile.dirs.contains(p))
        {
            durable.dirs.insert(path.to_path_buf());
        }
        Ok(())
    }
    fn sync_fs(&self, _path: &Path) -> io::Result<()> {
        if self.disk.take_sync_failure() {
            return Err(io::Error::from_raw_os_error(
                rustix::io::Errno::IO.raw_os_error(),
            ));
        }
        // One instant for the whole syncfs: names and data together.
        let _instant = self.disk.instant.write().unwrap_or_else(|e| e.into_inner());
        let files: Vec<Arc<SimFile>> = {
            let mut st = lock(&self.state);
            st.durable.files = st.volatile.files.clone();
            st.durable.dirs = st.volatile.dirs.clone();
            st.volatile.files.values().cloned().collect()
        };
        for f in files {
            let mut d = lock(&f.data);
            d.durable = d.volatile.clone();
        }
        Ok(())
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn DirLock>> {
        let mut held = lock(&self.locks);
        if !held.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "locked"));
        }
        Ok(Box::new(SimLock {
            path: path.to_path_buf(),
            locks: self.locks.clone(),
        }))
    }
    fn live_maps(&self) -> bool {
        false
    }
}
