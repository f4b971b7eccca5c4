//! The engine layer: keyspace, streams, consumer groups (issue 3). It is
//! synchronous and knows nothing of RESP; it stores each stream in two
//! [`crate::storage::Log`]s.

pub mod client;
pub mod codec;
pub mod entry;
pub mod glob;
pub mod group;
pub mod groups;
pub mod id;
pub mod keyspace;
pub mod memory;
pub mod meta;
pub mod notify;
pub mod pubsub;
pub mod read;
pub mod settings;
pub mod stream;
pub mod txn;
