//! The I/O layer: every file operation the storage layer makes goes through
//! [`Io`], so that tests can swap the real file system for a simulated disk
//! (`storage::sim`) that models power loss, a full disk and failing fsyncs.
//!
//! Invariants the rest of the storage layer relies on:
//! - `write_at` either writes all of `buf` or returns an error; after an error
//!   the bytes in that range are unspecified (the caller overwrites them).
//! - `allocate` reserves real blocks, so later `write_at`s inside the
//!   allocated length do not fail for lack of space.
//! - `map` returns a read-only view of `[0, len)`; `len` never exceeds the
//!   file's length. With [`Io::live_maps`] the view shows later writes to that
//!   range (a shared mapping); otherwise it is a snapshot.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

/// A file opened through an [`Io`].
pub trait IoFile: Send + Sync {
    /// The file's current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// True when the file holds no bytes.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Writes all of `buf` at `offset` (`pwrite`).
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Reads exactly `buf.len()` bytes at `offset` (`pread`).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Reserves blocks so that the file is at least `len` bytes (`fallocate`).
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// Sets the file's length (`ftruncate`). Never called on a mapped range
    /// that a reader may still touch.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's data, and the metadata needed to read it, durable
    /// (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// A read-only view of `[0, len)`.
    fn map(&self, len: u64) -> io::Result<Bytes>;
    /// Last modification time.
    fn modified(&self) -> io::Result<SystemTime>;
}

/// A shared handle to an open file.
pub type FileRef = Arc<dyn IoFile>;

/// Held while a data directory is locked; dropping it releases the lock.
pub trait DirLock: Send + Sync {}

/// File-system operations.
pub trait Io: Send + Sync + 'static {
    /// Opens a file for reading and writing, creating it when `create`.
    fn open(&self, path: &Path, create: bool) -> io::Result<FileRef>;
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The names of the entries of a directory.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// True when the path exists.
    fn exists(&self, path: &Path) -> bool;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes an empty directory.
    fn remove_dir(&self, path: &Path) -> io::Result<()>;
    /// Renames a file, replacing the target.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes a directory's entries durable (fsync of the directory).
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// Makes everything written to the file system holding `path` durable
    /// (`syncfs`): one call covers many dirty logs.
    fn sync_fs(&self, path: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `path` (created if missing), writing this
    /// process's id into it. Fails with `WouldBlock` when it is held.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn DirLock>>;
    /// Whether [`IoFile::map`] views show later writes.
    fn live_maps(&self) -> bool;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsIo;

impl FsIo {
    /// A shared handle to the real file system.
    pub fn shared() -> Arc<dyn Io> {
        Arc::new(FsIo)
    }
}

struct FsFile {
    file: File,
}

impl IoFile for FsFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        // Mode 0 reserves the blocks and extends the size: a later write into
        // the range cannot fail for lack of space, and a mapping of it cannot
        // SIGBUS.
        rustix::fs::fallocate(&self.file, rustix::fs::FallocateFlags::empty(), 0, len)
            .map_err(io::Error::from)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        rustix::fs::fdatasync(&self.file).map_err(io::Error::from)
    }
    fn map(&self, len: u64) -> io::Result<Bytes> {
        super::mmap::map_readonly(&self.file, len)
    }
    fn modified(&self) -> io::Result<SystemTime> {
        self.file.metadata()?.modified()
    }
}

struct FsLock {
    _file: File,
}

impl DirLock for FsLock {}

impl Io for FsIo {
    fn open(&self, path: &Path, create: bool) -> io::Result<FileRef> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .open(path)?;
        Ok(Arc::new(FsFile { file }))
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn read_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            if let Ok(name) = entry?.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(names)
    }
    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn remove_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
    fn sync_fs(&self, path: &Path) -> io::Result<()> {
        let dir = File::open(path)?;
        rustix::fs::syncfs(&dir).map_err(io::Error::from)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn DirLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
            |e| {
                if e == rustix::io::Errno::WOULDBLOCK {
                    io::Error::new(io::ErrorKind::WouldBlock, "locked")
                } else {
                    io::Error::from(e)
                }
            },
        )?;
        file.set_len(0)?;
        file.write_all_at(format!("{}\n", std::process::id()).as_bytes(), 0)?;
        Ok(Box::new(FsLock { _file: file }))
    }
    fn live_maps(&self) -> bool {
        true
    }
}

/// Reads the process id a lock file names, for error messages.
pub(crate) fn lock_holder(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) if !s.trim().is_empty() => format!(" (pid {})", s.trim()),
        _ => String::new(),
    }
}
