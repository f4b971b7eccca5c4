//! The storage layer: durable append-only logs of segment files with a
//! sparse index. It sees bytes, positions and opaque 128-bit keys; it knows
//! nothing of RESP, tokio or streams.

pub mod index;
pub mod io;
pub mod log;
mod mmap;
pub mod record;
pub mod segment;
#[cfg(feature = "sim-io")]
pub mod sim;
pub mod store;
pub mod sync;
pub mod verify;

pub use self::io::{FsIo, Io, IoFile};
pub use self::log::{Entry, Iter, Log, LogStats, RecoveryReport, RevIter};
pub use self::segment::Record;
pub use self::store::Store;
pub use self::sync::Commit;
