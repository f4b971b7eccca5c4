//! Brook: a persistent, log-structured streams engine that speaks the Redis
//! protocol.
//!
//! # Layers
//!
//! Dependencies point one way, from top to bottom:
//!
//! ```text
//! server   RESP2/RESP3 over tokio, one file per command     (to come)
//!   |
//! engine   keyspace, streams, consumer groups, lists, pub/sub (to come)
//!   |
//! storage  segments, sparse index, records, fsync policies, group commit
//! ```
//!
//! [`storage`] knows nothing of RESP, tokio or streams: it stores records with
//! opaque 128-bit keys in append-only logs ([`storage::Log`]), many of them in
//! one data directory ([`storage::Store`]).
#![deny(unsafe_code)]

pub mod config;
pub mod error;
pub mod storage;

pub use config::{FsyncPolicy, LogConfig, StoreConfig};
pub use error::{Result, StorageError};
