//! The engine layer: keyspace, streams, consumer groups (issue 3). It is
//! synchronous and knows nothing of RESP; it stores each stream in a
//! [`crate::storage::Log`].

pub mod glob;
pub mod id;
