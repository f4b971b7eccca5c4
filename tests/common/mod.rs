//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use brook::storage::sim::SimIo;
use brook::storage::{FsIo, Io};
use brook::{FsyncPolicy, LogConfig};

/// A log configuration small enough that tests roll segments and write
/// index points often.
pub fn small_cfg(fsync: FsyncPolicy) -> LogConfig {
    LogConfig {
        fsync,
        segment_bytes: 4096,
        index_interval_bytes: 128,
        prealloc_min_bytes: 512,
        prealloc_max_bytes: 2048,
        max_record_bytes: 64 << 10,
        max_open_segments: 2,
    }
}

/// Where a test's log lives: the real file system or the simulated disk.
pub enum Disk {
    /// A temporary directory on the real file system.
    Fs(tempfile::TempDir),
    /// The simulated disk.
    Sim(Arc<SimIo>),
}

impl Disk {
    pub fn fs() -> Disk {
        Disk::Fs(tempfile::tempdir().expect("tempdir"))
    }
    pub fn sim() -> Disk {
        Disk::Sim(SimIo::new())
    }
    pub fn io(&self) -> Arc<dyn Io> {
        match self {
            Disk::Fs(_) => FsIo::shared(),
            Disk::Sim(s) => s.clone(),
        }
    }
    pub fn dir(&self) -> PathBuf {
        match self {
            Disk::Fs(t) => t.path().join("log"),
            Disk::Sim(_) => PathBuf::from("/sim/log"),
        }
    }
    /// Both kinds, for running a scenario on each.
    pub fn both() -> [Disk; 2] {
        [Disk::fs(), Disk::sim()]
    }
}

/// A payload that encodes its key, so that a read can be checked.
pub fn payload_for(key: u128, len: usize) -> Vec<u8> {
    let seed = key.to_le_bytes();
    (0..len).map(|i| seed[i % 16] ^ (i as u8)).collect()
}

/// A small deterministic random number generator (xorshift64), so that a
/// failing seed can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
pub mod server;
