//! Settings of the storage layer. Each field says its default and its bounds.

use std::time::Duration;

/// When appended bytes are made durable with `fdatasync`, chosen per log, as
/// Redis's `appendfsync`.
///
/// | policy | an append returns | lost on power failure | lost on process crash |
/// |---|---|---|---|
/// | `Always` | after an fdatasync covering it | nothing acknowledged | nothing |
/// | `EverySec` | after `write` | up to about 1 s (2 s worst case) | nothing |
/// | `No` | after `write` | whatever the OS had not written back | nothing |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FsyncPolicy {
    /// Every append is durable before it is acknowledged. Concurrent appenders
    /// share fdatasyncs (group commit).
    Always,
    /// A background flusher syncs dirty logs once a second.
    #[default]
    EverySec,
    /// Never sync explicitly; the OS writes back when it chooses.
    No,
}

impl FsyncPolicy {
    /// Parses Redis's spelling: `always`, `everysec`, `no` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "always" => Some(FsyncPolicy::Always),
            "everysec" => Some(FsyncPolicy::EverySec),
            "no" => Some(FsyncPolicy::No),
            _ => None,
        }
    }

    /// Redis's spelling of the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }
}

/// Settings of one log.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// When appends are made durable. Default: `EverySec`.
    pub fsync: FsyncPolicy,
    /// A segment rolls once appending would take it past this size.
    /// Default 128 MiB; min 4 KiB; max 1 GiB. A segment exceeds it only when
    /// one batch is larger; batches are at most 1 GiB, so a segment stays
    /// below 2 GiB (positions in the index are 31 bits).
    pub segment_bytes: u64,
    /// One sparse-index entry per this many bytes of segment, like Kafka's
    /// `index.interval.bytes`. Default 4 KiB; min 64.
    pub index_interval_bytes: u32,
    /// First preallocation of a segment; later chunks double up to
    /// `prealloc_max_bytes`, so a small log stays small on disk. Default 4 KiB.
    pub prealloc_min_bytes: u64,
    /// Largest preallocation chunk. Default 1 MiB: recovery checks that the
    /// unused preallocation after the last record is all zeros, so this also
    /// bounds what opening a log reads.
    pub prealloc_max_bytes: u64,
    /// Largest payload of one record. Default 512 MiB + 64 KiB (a Redis bulk
    /// of the maximum size, plus framing); max 1 GiB minus the header.
    pub max_record_bytes: usize,
    /// How many sealed segments of this log keep their mapping and index in
    /// memory at once (least recently used are closed). Default 8; min 1.
    pub max_open_segments: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            fsync: FsyncPolicy::EverySec,
            segment_bytes: 128 << 20,
            index_interval_bytes: 4096,
            prealloc_min_bytes: 4096,
            prealloc_max_bytes: 1 << 20,
            max_record_bytes: (512 << 20) + (64 << 10),
            max_open_segments: 8,
        }
    }
}

impl LogConfig {
    /// Clamps every field into its documented bounds.
    pub fn normalized(mut self) -> Self {
        self.segment_bytes = self.segment_bytes.clamp(4096, MAX_BATCH_BYTES);
        self.index_interval_bytes = self.index_interval_bytes.max(64);
        self.prealloc_min_bytes = self.prealloc_min_bytes.clamp(512, 1 << 30);
        self.prealloc_max_bytes = self.prealloc_max_bytes.max(self.prealloc_min_bytes);
        self.max_record_bytes = self
            .max_record_bytes
            .min(MAX_BATCH_BYTES as usize - crate::storage::record::RECORD_HEADER_BYTES);
        self.max_open_segments = self.max_open_segments.max(1);
        self
    }
}

/// Settings of a [`crate::storage::Store`], a data directory of many logs.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// Settings given to each log the store opens.
    pub log: LogConfig,
    /// How many logs stay open (files and mappings) at once; the least
    /// recently used are closed beyond it. Default 1024; min 1.
    pub max_open_logs: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            log: LogConfig::default(),
            max_open_logs: 1024,
        }
    }
}

/// The largest batch one append may write, and the largest segment size.
pub const MAX_BATCH_BYTES: u64 = 1 << 30;

/// How often the background flusher syncs dirty `EverySec` logs.
pub const EVERYSEC_INTERVAL: Duration = Duration::from_secs(1);
