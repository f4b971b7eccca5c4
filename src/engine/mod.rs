//! The engine layer: keyspace, streams, consumer groups (issue 3). It is
//! synchronous and knows nothing of RESP; it stores each stream in two
//! [`crate::storage::Log`]s.

pub mod check;
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

use bytes::Bytes;

/// A copy of `b` in an allocation of its own. Values, keys and names kept
/// in memory arrive as slices of a request's read buffer (or of a record
/// read back); kept as they are, each would pin that whole buffer for as
/// long as it lives.
pub(crate) fn own(b: &Bytes) -> Bytes {
    Bytes::copy_from_slice(b)
}
