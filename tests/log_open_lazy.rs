//! Opening a log reads only the tail of its last segment; sealed segments
//! are opened on first read. Retention by key, size and age.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use brook::FsyncPolicy;
use brook::storage::io::{DirLock, FileRef};
use brook::storage::{FsIo, Io, Log};
use common::{Disk, payload_for, small_cfg};

/// The real file system, recording every path opened.
struct Recording {
    inner: Arc<dyn Io>,
    opened: Mutex<Vec<PathBuf>>,
}

impl Io for Recording {
    fn open(&self, path: &Path, create: bool) -> std::io::Result<FileRef> {
        self.opened.lock().unwrap().push(path.to_path_buf());
        self.inner.open(path, create)
    }
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        self.inner.read_dir(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.inner.remove_file(path)
    }
    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        self.inner.remove_dir(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn sync_fs(&self, path: &Path) -> std::io::Result<()> {
        self.inner.sync_fs(path)
    }
    fn lock(&self, path: &Path) -> std::io::Result<Box<dyn DirLock>> {
        self.inner.lock(path)
    }
    fn live_maps(&self) -> bool {
        self.inner.live_maps()
    }
}

#[test]
fn open_reads_only_the_last_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    {
        let log = Log::open(FsIo::shared(), &dir, small_cfg(FsyncPolicy::No)).unwrap();
        for k in 1..=500u128 {
            log.append(1, k, &payload_for(k, 100)).unwrap();
        }
        assert!(log.stats().segments > 10);
    }
    let rec = Arc::new(Recording {
        inner: FsIo::shared(),
        opened: Mutex::new(Vec::new()),
    });
    let log = Log::open(rec.clone(), &dir, small_cfg(FsyncPolicy::No)).unwrap();
    let segments = log.stats().segments;
    let opened: Vec<PathBuf> = rec.opened.lock().unwrap().clone();
    let segs: Vec<&PathBuf> = opened
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    assert_eq!(
        segs.len(),
        1,
        "open touched {segs:?} of {segments} segments"
    );
    assert_eq!(log.last_key(), Some(500));
    // A read in the middle opens just the segment it needs.
    rec.opened.lock().unwrap().clear();
    assert_eq!(log.first_ge(250).unwrap().unwrap().key, 250);
    let opened = rec.opened.lock().unwrap().clone();
    assert_eq!(
        opened
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "seg"))
            .count(),
        1
    );
}

#[test]
fn retention_by_key_size_and_age() {
    for disk in Disk::both() {
        let log = Log::open(disk.io(), disk.dir(), small_cfg(FsyncPolicy::No)).unwrap();
        for k in 1..=600u128 {
            log.append(1, k, &payload_for(k, 100)).unwrap();
        }
        let segments = log.stats().segments;
        assert!(segments > 10);
        // By key: everything >= 300 stays, whole segments below it go.
        let dropped = log.retain_from(300).unwrap();
        assert!(dropped > 0);
        let first = log.first_key().unwrap();
        assert!(first <= 300 && first > 1);
        assert_eq!(log.first_ge(0).unwrap().unwrap().key, first);
        assert_eq!(log.iter_from(0).unwrap().count() as u128, 600 - first + 1);
        // By size.
        log.retain_bytes(8192).unwrap();
        assert!(log.disk_bytes().unwrap() <= 8192);
        assert_eq!(log.last_key(), Some(600));
        // By age: nothing is an hour old; everything sealed is older than
        // "now + 1 h" with a zero budget.
        assert_eq!(
            log.retain_age(Duration::from_secs(3600), SystemTime::now())
                .unwrap(),
            0
        );
        let later = SystemTime::now() + Duration::from_secs(3600);
        log.retain_age(Duration::ZERO, later).unwrap();
        assert_eq!(log.stats().segments, 1, "only the active segment is left");
        let remaining: Vec<u128> = log.iter_from(0).unwrap().map(|r| r.unwrap().key).collect();
        assert_eq!(*remaining.last().unwrap(), 600);
        drop(log);
        let log = Log::open(disk.io(), disk.dir(), small_cfg(FsyncPolicy::No)).unwrap();
        assert_eq!(
            log.iter_from(0)
                .unwrap()
                .map(|r| r.unwrap().key)
                .collect::<Vec<_>>(),
            remaining
        );
    }
}
