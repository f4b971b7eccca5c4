//! The one module with unsafe code: read-only memory maps of segment files.
//!
//! Soundness rests on three rules the rest of the storage layer keeps:
//! 1. Only ranges that were fully allocated (`fallocate`) and written are
//!    mapped, so no page of a mapping lies beyond the end of its file when it
//!    is made.
//! 2. A file is never truncated below a byte a reader can reach: the active
//!    segment is only shortened at seal time, down to its written length,
//!    and readers only ever touch `[0, written)`; recovery truncates before
//!    the first mapping exists.
//! 3. Mapped bytes are only changed by `pwrite` of bytes past the published
//!    length, which no reader reads until the writer publishes them after
//!    the write completes. Readers therefore never observe a byte changing.
//!
//! `UNSAFE.md` at the repository root lists this site.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;

use bytes::Bytes;
use memmap2::{Mmap, MmapOptions};

/// Maps `[0, len)` of `file` read-only and shared, as zero-copy [`Bytes`].
/// The mapping lives as long as any `Bytes` cut from it.
pub(crate) fn map_readonly(file: &File, len: u64) -> io::Result<Bytes> {
    if len == 0 {
        return Ok(Bytes::new());
    }
    let len = usize::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mapping larger than memory"))?;
    // SAFETY: memmap2 requires that the mapped file is not modified or
    // truncated in ways that invalidate the slice it hands out. The module
    // doc's rules hold here: the range is allocated (rule 1), never truncated
    // below what readers touch (rule 2), and the bytes readers can see are
    // never rewritten (rule 3). The mapping is read-only, so no `&mut`
    // aliasing can arise from it.
    let map: Mmap = unsafe { MmapOptions::new().len(len).map(file)? };
    Ok(Bytes::from_owner(map))
}
