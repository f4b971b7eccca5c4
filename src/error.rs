//! Error types, one enum per layer.
//!
//! Every variant carries the data needed to act on it (which file, which
//! offset), and its message says what to do.

use std::io;
use std::path::PathBuf;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An operating-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation that failed (`open`, `write`, `fdatasync`, ...).
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The disk has no room left for a preallocation or a write. Nothing was
    /// appended; free space and retry, the log stays usable.
    #[error(
        "no space left on device while {op} {path}; nothing was appended, free space and retry"
    )]
    NoSpace {
        /// The operation that ran out of space.
        op: &'static str,
        /// The file it was applied to.
        path: PathBuf,
    },
    /// A file's bytes are not what was written: a record or header failed its
    /// checks. The data is not served.
    #[error(
        "corrupt data in {file} at offset {offset}: {reason}; run `brook verify` on the data directory"
    )]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damage in that file.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// A record's CRC does not match its bytes.
    #[error(
        "checksum mismatch in {file} at offset {offset}: stored {expected:#010x}, computed {got:#010x}; the record is damaged and is not served"
    )]
    Checksum {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the record in that file.
        offset: u64,
        /// The CRC stored in the record.
        expected: u32,
        /// The CRC computed over its bytes.
        got: u32,
    },
    /// A file was written by a format version this build does not read.
    #[error(
        "{file} has format version {found}, this build reads version {supported}; upgrade brook"
    )]
    Version {
        /// The file.
        file: PathBuf,
        /// The version found in its header.
        found: u16,
        /// The version this build writes and reads.
        supported: u16,
    },
    /// Keys must strictly increase within a log.
    #[error(
        "key {got:#x} is not greater than the log's last key {last:#x}; keys must strictly increase"
    )]
    KeyOrder {
        /// The last key in the log (or earlier in the batch).
        last: u128,
        /// The key offered.
        got: u128,
    },
    /// Record kind 0 is reserved (it marks unwritten space).
    #[error("record kind 0 is reserved; use a kind from 1 to 255")]
    ReservedKind,
    /// A record (or a batch) is larger than the maximum.
    #[error("{len} bytes exceed the maximum of {max} bytes for one record or batch")]
    TooLarge {
        /// The payload size offered.
        len: usize,
        /// The configured maximum.
        max: usize,
    },
    /// An earlier fsync of this log failed, so its durable state is unknown.
    /// Writes are refused until the log is reopened (which re-validates it).
    #[error("log {dir} refuses writes: an earlier fsync failed ({cause}); reopen the log")]
    Poisoned {
        /// The log's directory.
        dir: PathBuf,
        /// The error the fsync returned.
        cause: String,
    },
    /// Another process holds the data directory.
    #[error(
        "data directory {dir} is locked by another process{holder}; stop it or use another --dir"
    )]
    Locked {
        /// The data directory.
        dir: PathBuf,
        /// `" (pid N)"` when the lock file names its holder, otherwise empty.
        holder: String,
    },
    /// A log name that cannot be used as a single path component.
    #[error("invalid log name {name:?}: use 1-200 bytes of [A-Za-z0-9._-], not `.` or `..`")]
    BadName {
        /// The rejected name.
        name: String,
    },
    /// The log was closed while the operation waited.
    #[error("log {dir} was closed")]
    Closed {
        /// The log's directory.
        dir: PathBuf,
    },
}

impl StorageError {
    /// Wraps an I/O error, turning ENOSPC and EDQUOT into [`StorageError::NoSpace`].
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        match source.raw_os_error() {
            Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error() => {
                StorageError::NoSpace { op, path }
            }
            Some(code) if code == rustix::io::Errno::DQUOT.raw_os_error() => {
                StorageError::NoSpace { op, path }
            }
            _ => StorageError::Io { op, path, source },
        }
    }

    /// True when the error is a full disk.
    pub fn is_no_space(&self) -> bool {
        matches!(self, StorageError::NoSpace { .. })
    }

    /// True when the disk refused a write: it is full, or an earlier fsync
    /// failed. Reads still work.
    pub fn refuses_writes(&self) -> bool {
        matches!(
            self,
            StorageError::NoSpace { .. } | StorageError::Poisoned { .. }
        )
    }

    /// True when the error reports damaged data.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            StorageError::Corrupt { .. } | StorageError::Checksum { .. }
        )
    }
}

/// Errors of the engine layer. Their messages are Redis's error texts, so
/// that the server can reply with them unchanged.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An ID argument that does not parse.
    #[error("ERR Invalid stream ID specified as stream command argument")]
    InvalidId,
    /// An XADD ID not above the stream's top ID.
    #[error("ERR The ID specified in XADD is equal or smaller than the target stream top item")]
    IdTooSmall,
    /// XADD with the ID 0-0.
    #[error("ERR The ID specified in XADD must be greater than 0-0")]
    IdZero,
    /// XADD `*` on a stream whose top ID is the largest possible.
    #[error("ERR The stream has exhausted the last possible ID, unable to add more items")]
    IdExhausted,
    /// An exclusive range start past the largest ID.
    #[error("ERR invalid start ID for the interval")]
    InvalidStart,
    /// An exclusive range end before the smallest ID.
    #[error("ERR invalid end ID for the interval")]
    InvalidEnd,
    /// An operation on a key that holds another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// The key does not exist.
    #[error("ERR no such key")]
    NoSuchKey,
    /// A database number beyond `databases`.
    #[error("ERR DB index is out of range")]
    DbIndex,
    /// MOVE to the key's own database.
    #[error("ERR source and destination objects are the same")]
    SameObject,
    /// XSETID below the stream's last entry.
    #[error("ERR The ID specified in XSETID is smaller than the target stream top item")]
    SetIdTooSmall,
    /// XSETID with ENTRIESADDED below the stream's length.
    #[error("ERR The entries_added specified in XSETID is smaller than the target stream length")]
    SetIdAddedTooSmall,
    /// XSETID with MAXDELETEDID above the new top ID.
    #[error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")]
    SetIdBelowMaxDeleted,
    /// An XGROUP subcommand on a missing key.
    #[error(
        "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."
    )]
    XGroupNoKey,
    /// XGROUP CREATE of a group that exists.
    #[error("BUSYGROUP Consumer Group name already exists")]
    BusyGroup,
    /// A group that does not exist, in the wording of the command at hand.
    #[error("NOGROUP {}", match .form {
        NoGroupForm::ForKey => format!("No such consumer group '{}' for key name '{}'", .group, .key),
        NoGroupForm::KeyOrGroup => format!("No such key '{}' or consumer group '{}'", .key, .group),
        NoGroupForm::ReadGroup => format!("No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option", .key, .group),
    })]
    NoGroup {
        /// The key (lossy UTF-8).
        key: String,
        /// The group (lossy UTF-8).
        group: String,
        /// Which wording.
        form: NoGroupForm,
    },
    /// A produce with an expected last ID found another one. Not a Redis
    /// error: the embedded API's optimistic-concurrency check.
    #[error("CONFLICT expected last ID {expected}, the stream's is {actual}")]
    Conflict {
        /// What the caller expected (0-0: an empty, never written stream).
        expected: crate::engine::id::StreamId,
        /// The stream's actual last ID.
        actual: crate::engine::id::StreamId,
    },
    /// A stored entry, journal op or catalog record that does not decode.
    /// It is reported, never served.
    #[error("ERR corrupt record in {file} at key {key}; run `brook verify` on the data directory")]
    Corrupt {
        /// The log holding it.
        file: std::path::PathBuf,
        /// The record's key.
        key: u128,
    },
    /// The storage layer failed. A write the disk refused (full, or a log
    /// that a failed fsync made read-only) gets Redis's `MISCONF` code, as
    /// Redis answers when it cannot write its AOF; anything else `ERR`.
    #[error("{} {}", if .0.refuses_writes() { "MISCONF Errors writing to disk:" } else { "ERR" }, .0)]
    Storage(#[from] StorageError),
}

impl EngineError {
    /// Redis's NOGROUP error for `key` and `group`, in the wording `form`.
    pub fn no_group(key: &[u8], group: &[u8], form: NoGroupForm) -> EngineError {
        EngineError::NoGroup {
            key: String::from_utf8_lossy(key).into_owned(),
            group: String::from_utf8_lossy(group).into_owned(),
            form,
        }
    }
}

/// The wordings of Redis's NOGROUP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoGroupForm {
    /// XGROUP and XINFO CONSUMERS: "No such consumer group 'g' for key name 'k'".
    ForKey,
    /// XACK, XPENDING, XCLAIM, XAUTOCLAIM: "No such key 'k' or consumer group 'g'".
    KeyOrGroup,
    /// XREADGROUP: "... in XREADGROUP with GROUP option".
    ReadGroup,
}

/// Result of the storage layer.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
