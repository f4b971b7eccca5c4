//! Brook: a persistent, log-structured streams engine that speaks the Redis
//! protocol.
//!
//! # Layers
//!
//! Dependencies point one way, from top to bottom:
//!
//! ```text
//! server   RESP2/RESP3 over tokio, one file per command
//!   |
//! engine   keyspace, streams, consumer groups
//!   |
//! storage  segments, sparse index, records, fsync policies, group commit
//! ```
//!
//! [`storage`] knows nothing of RESP, tokio or streams: it stores records with
//! opaque 128-bit keys in append-only logs ([`storage::Log`]), many of them in
//! one data directory ([`storage::Store`]).
//!
//! ```
//! use brook::storage::{FsIo, Store};
//! use brook::{FsyncPolicy, LogConfig, StoreConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(FsIo::shared(), dir.path(), StoreConfig::default())?;
//! let cfg = LogConfig { fsync: FsyncPolicy::Always, ..LogConfig::default() };
//! let log = store.log_with("orders", cfg)?;
//! log.append(1, 10, b"created")?; // returns once an fdatasync covers it
//! log.append(1, 11, b"paid")?;
//! let rec = log.first_ge(11)?.ok_or("record 11 is missing")?;
//! assert_eq!(&rec.payload[..], b"paid"); // a zero-copy view of the segment
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(unsafe_code)]

pub mod config;
pub mod engine;
pub mod error;
pub mod resp;
pub mod server;
pub mod storage;

pub use config::{FsyncPolicy, LogConfig, StoreConfig};
pub use error::{EngineError, Result, StorageError};

/// Helpers shared by the unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    /// Decodes lower-case hex, as the recorded fixtures store bytes.
    pub(crate) fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("fixture hex"))
            .collect()
    }
}
