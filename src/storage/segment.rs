//! Segments: the files a log is made of, and the reads and recovery scans
//! over them.
//!
//! A segment is named by the key of its first record (its base key) as 32
//! zero-padded hex digits, so that names sort in key order:
//! `0000000000000000000000000000002a.seg`, with its index beside it as
//! `….idx`.
//!
//! Header layout (little-endian; `docs/format.md` is the normative copy):
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `BROOKSEG` |
//! | 8 | 2 | format version (1) |
//! | 10 | 2 | header length (64) |
//! | 12 | 4 | flags, zero |
//! | 16 | 16 | base key (u128) |
//! | 32 | 8 | creation time, Unix ms |
//! | 40 | 20 | reserved, zero |
//! | 60 | 4 | CRC32 of bytes 0..60 |
//!
//! Records follow from byte 64. Past the last record, the active segment
//! holds preallocated zeros; a sealed segment ends at its last record.
//!
//! Concurrency: one writer appends and then publishes the new length with a
//! release store; readers load it with acquire and read only below it, so
//! they see only complete records.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use byteorder::{ByteOrder, LittleEndian};
use bytes::Bytes;

use super::index::{self, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES, IndexEntry, SEAL_BIT};
use super::io::{FileRef, Io};
use super::record::{self, DecodeError};
use crate::error::{Result, StorageError};

/// Magic number at the start of a segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"BROOKSEG";
/// Format version of segment files.
pub const SEGMENT_VERSION: u16 = 1;
/// Bytes of the segment header; the first record starts here.
pub const SEGMENT_HEADER_BYTES: u64 = 64;

/// A record read from a log. The payload is a zero-copy view of the mapped
/// segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The kind byte given at append.
    pub kind: u8,
    /// The record's key.
    pub key: u128,
    /// The payload, borrowed from the segment's mapping.
    pub payload: Bytes,
}

/// File name of the segment with this base key.
pub fn segment_file_name(base: u128) -> String {
    format!("{base:032x}.seg")
}

/// File name of the index of the segment with this base key.
pub fn index_file_name(base: u128) -> String {
    format!("{base:032x}.idx")
}

/// The base key a segment file name encodes.
pub fn parse_segment_name(name: &str) -> Option<u128> {
    let hex = name.strip_suffix(".seg")?;
    if hex.len() != 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(hex, 16).ok()
}

/// Encodes a segment header.
pub fn encode_header(base: u128) -> [u8; SEGMENT_HEADER_BYTES as usize] {
    let mut h = [0u8; SEGMENT_HEADER_BYTES as usize];
    h[0..8].copy_from_slice(&SEGMENT_MAGIC);
    LittleEndian::write_u16(&mut h[8..], SEGMENT_VERSION);
    LittleEndian::write_u16(&mut h[10..], SEGMENT_HEADER_BYTES as u16);
    LittleEndian::write_u128(&mut h[16..], base);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    LittleEndian::write_u64(&mut h[32..], now_ms);
    let crc = crc32fast::hash(&h[..60]);
    LittleEndian::write_u32(&mut h[60..], crc);
    h
}

fn corrupt(path: &Path, offset: u64, reason: impl Into<String>) -> StorageError {
    StorageError::Corrupt {
        file: path.to_path_buf(),
        offset,
        reason: reason.into(),
    }
}

/// Checks a segment header read from `path`.
pub fn check_header(h: &[u8], base: u128, path: &Path) -> Result<()> {
    if h.len() < SEGMENT_HEADER_BYTES as usize {
        return Err(corrupt(path, 0, "file shorter than the segment header"));
    }
    if h[0..8] != SEGMENT_MAGIC {
        return Err(corrupt(path, 0, "bad magic: not a brook segment"));
    }
    let expected = LittleEndian::read_u32(&h[60..]);
    let got = crc32fast::hash(&h[..60]);
    if expected != got {
        return Err(StorageError::Checksum {
            file: path.to_path_buf(),
            offset: 0,
            expected,
            got,
        });
    }
    let version = LittleEndian::read_u16(&h[8..]);
    if version != SEGMENT_VERSION {
        return Err(StorageError::Version {
            file: path.to_path_buf(),
            found: version,
            supported: SEGMENT_VERSION,
        });
    }
    if LittleEndian::read_u128(&h[16..]) != base {
        return Err(corrupt(path, 16, "base key differs from the file name"));
    }
    Ok(())
}

/// Turns a decode failure at `offset` of `path` into an error.
pub fn decode_error(path: &Path, offset: u64, e: DecodeError) -> StorageError {
    match e {
        DecodeError::Checksum { expected, got } => StorageError::Checksum {
            file: path.to_path_buf(),
            offset,
            expected,
            got,
        },
        DecodeError::End => corrupt(path, offset, "zeros where a record should be"),
        DecodeError::Short => corrupt(path, offset, "record runs past the end of the segment"),
        DecodeError::BadHeader => corrupt(path, offset, "invalid record header"),
    }
}

/// The current mapping of a segment and how far it can be trusted.
struct View {
    bytes: Bytes,
    /// Bytes of `bytes` known to hold what was written: its whole length for
    /// a live mapping, the length published when it was taken for a snapshot.
    covers: u64,
}

/// One segment, sealed or active, as readers see it.
pub struct Segment {
    /// Key of its first record.
    pub base: u128,
    /// Path of the segment file.
    pub path: PathBuf,
    file: FileRef,
    live_maps: bool,
    /// End of the last complete record: readers read below it.
    len: AtomicU64,
    /// Length to map for a live mapping: the allocated length while active.
    map_len: AtomicU64,
    view: Mutex<View>,
    /// The sparse index, in memory.
    index: RwLock<Vec<IndexEntry>>,
    /// For a sealed segment whose scan stopped before the end of its file:
    /// where and why. Reading up to that point returns this as an error.
    damage: Option<(u64, String)>,
    max_payload: usize,
}

/// The result of scanning records from a position.
struct Scan {
    /// End of the last valid record.
    end: u64,
    /// Index entries for the records scanned.
    entries: Vec<IndexEntry>,
    /// Key of the last valid record, if any was scanned.
    last_key: Option<u128>,
    /// Position of the last index point (header end if none).
    last_indexed: u64,
    /// Why the scan stopped before `limit`, if it did, and not at zeros.
    stop: Option<DecodeError>,
}

fn scan(
    bytes: &[u8],
    from: u64,
    limit: u64,
    last_indexed: u64,
    interval: u32,
    max_payload: usize,
) -> Scan {
    let mut s = Scan {
        end: from,
        entries: Vec::new(),
        last_key: None,
        last_indexed,
        stop: None,
    };
    let limit = (limit as usize).min(bytes.len());
    let mut prev_key = None;
    while (s.end as usize) < limit {
        match record::decode_from(&bytes[s.end as usize..limit], max_payload) {
            Ok(r) => {
                if prev_key.is_some_and(|k| r.key <= k) {
                    s.stop = Some(DecodeError::BadHeader);
                    break;
                }
                if s.end - s.last_indexed >= u64::from(interval) {
                    s.entries.push(IndexEntry {
                        key: r.key,
                        pos: s.end as u32,
                    });
                    s.last_indexed = s.end;
                }
                prev_key = Some(r.key);
                s.last_key = Some(r.key);
                s.end += r.encoded_len() as u64;
            }
            Err(DecodeError::End) => break,
            Err(e) => {
                s.stop = Some(e);
                break;
            }
        }
    }
    s
}

/// Position of the last nonzero byte of `bytes[from..]`, plus one.
fn nonzero_extent(bytes: &[u8], from: u64) -> u64 {
    let tail = bytes.get(from as usize..).unwrap_or(&[]);
    tail.iter()
        .rposition(|&b| b != 0)
        .map_or(from, |i| from + i as u64 + 1)
}

/// What recovering the last segment of a log found.
pub(crate) struct Recovered {
    pub segment: Arc<Segment>,
    pub file: FileRef,
    pub index_file: Option<FileRef>,
    pub index_count: u64,
    pub end: u64,
    pub allocated: u64,
    pub last_key: Option<u128>,
    pub last_indexed: u64,
    pub torn_bytes: u64,
}

/// Settings a segment needs.
#[derive(Clone, Copy)]
pub(crate) struct SegmentParams {
    pub interval: u32,
    pub max_payload: usize,
}

/// Reads an index file, at most as many bytes as a segment of `seg_len`
/// bytes can need (one entry per record, plus the seal entry), so that a
/// damaged file's size cannot make us allocate without bound.
fn read_index_file(
    io: &dyn Io,
    path: &Path,
    base: u128,
    seg_len: u64,
) -> Option<(FileRef, Vec<u8>)> {
    if !io.exists(path) {
        return None;
    }
    let f = io.open(path, false).ok()?;
    let most = INDEX_HEADER_BYTES as u64
        + INDEX_ENTRY_BYTES as u64 * (seg_len / record::RECORD_HEADER_BYTES as u64 + 1);
    let len = f.len().ok()?.min(most);
    let mut buf = vec![0u8; usize::try_from(len).ok()?];
    f.read_at(&mut buf, 0).ok()?;
    if !index::header_ok(&buf, base) {
        return Some((f, Vec::new()));
    }
    Some((f, buf))
}

impl Segment {
    #[allow(clippy::too_many_arguments)]
    fn new(
        base: u128,
        path: PathBuf,
        file: FileRef,
        live_maps: bool,
        len: u64,
        map_len: u64,
        index: Vec<IndexEntry>,
        max_payload: usize,
    ) -> Self {
        Segment {
            base,
            path,
            file,
            live_maps,
            len: AtomicU64::new(len),
            map_len: AtomicU64::new(map_len),
            view: Mutex::new(View {
                bytes: Bytes::new(),
                covers: 0,
            }),
            index: RwLock::new(index),
            damage: None,
            max_payload,
        }
    }

    /// Creates a new, empty active segment: file with its header, allocated
    /// to `prealloc` bytes.
    pub(crate) fn create(
        io: &dyn Io,
        dir: &Path,
        base: u128,
        prealloc: u64,
        params: SegmentParams,
    ) -> Result<(Arc<Segment>, FileRef)> {
        let path = dir.join(segment_file_name(base));
        let file = io
            .open(&path, true)
            .map_err(|e| StorageError::io("create", &path, e))?;
        file.allocate(prealloc.max(SEGMENT_HEADER_BYTES))
            .map_err(|e| StorageError::io("fallocate", &path, e))?;
        file.write_at(&encode_header(base), 0)
            .map_err(|e| StorageError::io("write", &path, e))?;
        let seg = Segment::new(
            base,
            path,
            file.clone(),
            io.live_maps(),
            SEGMENT_HEADER_BYTES,
            prealloc.max(SEGMENT_HEADER_BYTES),
            Vec::new(),
            params.max_payload,
        );
        Ok((Arc::new(seg), file))
    }

    /// Opens a sealed segment for reading. Reads its header and index only,
    /// unless the index is missing or short: then the part of the segment it
    /// does not cover is scanned and the index rebuilt.
    pub(crate) fn open_sealed(
        io: &dyn Io,
        dir: &Path,
        base: u128,
        params: SegmentParams,
    ) -> Result<Arc<Segment>> {
        let path = dir.join(segment_file_name(base));
        let file = io
            .open(&path, false)
            .map_err(|e| StorageError::io("open", &path, e))?;
        let len = file.len().map_err(|e| StorageError::io("stat", &path, e))?;
        let mut header = [0u8; SEGMENT_HEADER_BYTES as usize];
        if len < SEGMENT_HEADER_BYTES {
            return Err(corrupt(&path, 0, "file shorter than the segment header"));
        }
        file.read_at(&mut header, 0)
            .map_err(|e| StorageError::io("read", &path, e))?;
        check_header(&header, base, &path)?;

        let idx_path = dir.join(index_file_name(base));
        let idx = read_index_file(io, &idx_path, base, len);
        let decoded = match &idx {
            Some((_, buf)) if buf.len() >= INDEX_HEADER_BYTES => {
                index::decode_entries(&buf[INDEX_HEADER_BYTES..], SEGMENT_HEADER_BYTES as u32, len)
            }
            _ => index::Decoded::default(),
        };
        let bytes = file
            .map(len)
            .map_err(|e| StorageError::io("mmap", &path, e))?;
        let mut seg = Segment::new(
            base,
            path.clone(),
            file,
            io.live_maps(),
            len,
            len,
            Vec::new(),
            params.max_payload,
        );
        let mut entries = decoded.entries;
        if decoded.seal.is_some_and(|(_, end)| u64::from(end) == len) {
            seg.index = RwLock::new(entries);
            seg.view = Mutex::new(View { bytes, covers: len });
            return Ok(Arc::new(seg));
        }
        // The index is short: scan what it does not cover.
        let from = entries
            .last()
            .map_or(SEGMENT_HEADER_BYTES, |e| u64::from(e.pos));
        let s = scan(&bytes, from, len, from, params.interval, params.max_payload);
        entries.extend(s.entries);
        let extent = nonzero_extent(&bytes, s.end);
        if let Some(e) = s.stop {
            seg.damage = Some((s.end, decode_error(&path, s.end, e).to_string()));
        } else if extent > s.end {
            seg.damage = Some((s.end, "nonzero bytes after the last record".into()));
        }
        seg.len = AtomicU64::new(s.end);
        if seg.damage.is_none() {
            // Persist the rebuilt index; it is derived data, so a failure
            // here only costs another scan next time.
            let _ = rewrite_index(
                io,
                &idx_path,
                base,
                params.interval,
                &entries,
                s.last_key.map(|k| (k, s.end)),
            );
        }
        seg.index = RwLock::new(entries);
        seg.view = Mutex::new(View { bytes, covers: len });
        Ok(Arc::new(seg))
    }

    /// Recovers the last segment of a log: validates from its last good
    /// index point to the end, truncates a torn tail, and makes the
    /// truncation durable. Returns `Ok(None)` for a segment whose header was
    /// never written (a roll cut short), which the caller removes.
    pub(crate) fn recover_tail(
        io: &dyn Io,
        dir: &Path,
        base: u128,
        params: SegmentParams,
    ) -> Result<Option<Recovered>> {
        let path = dir.join(segment_file_name(base));
        let file = io
            .open(&path, false)
            .map_err(|e| StorageError::io("open", &path, e))?;
        let len = file.len().map_err(|e| StorageError::io("stat", &path, e))?;
        let mut header = [0u8; SEGMENT_HEADER_BYTES as usize];
        if len >= SEGMENT_HEADER_BYTES {
            file.read_at(&mut header, 0)
                .map_err(|e| StorageError::io("read", &path, e))?;
        }
        if header.iter().all(|&b| b == 0) {
            // Created but its header never reached the disk: nothing in it
            // was ever acknowledged as durable.
            let bytes = file
                .map(len)
                .map_err(|e| StorageError::io("mmap", &path, e))?;
            if nonzero_extent(&bytes, 0) == 0 {
                return Ok(None);
            }
            return Err(corrupt(
                &path,
                0,
                "segment header is missing but data follows",
            ));
        }
        check_header(&header, base, &path)?;

        let idx_path = dir.join(index_file_name(base));
        let idx = read_index_file(io, &idx_path, base, len);
        let mut entries = match &idx {
            Some((_, buf)) if buf.len() >= INDEX_HEADER_BYTES => {
                index::decode_entries(&buf[INDEX_HEADER_BYTES..], SEGMENT_HEADER_BYTES as u32, len)
                    .entries
            }
            _ => Vec::new(),
        };
        let bytes = file
            .map(len)
            .map_err(|e| StorageError::io("mmap", &path, e))?;
        // Trust the last index point whose record is intact and has its key.
        while let Some(last) = entries.last() {
            let at = last.pos as usize;
            match record::decode_from(&bytes[at..], params.max_payload) {
                Ok(r) if r.key == last.key => break,
                _ => {
                    entries.pop();
                }
            }
        }
        let from = entries
            .last()
            .map_or(SEGMENT_HEADER_BYTES, |e| u64::from(e.pos));
        let s = scan(&bytes, from, len, from, params.interval, params.max_payload);
        let torn_bytes = nonzero_extent(&bytes, s.end) - s.end;
        entries.extend(s.entries);
        let last_key = s.last_key;
        drop(bytes);
        let mut allocated = len;
        if torn_bytes > 0 {
            // No mapping of this file exists any more: truncating is safe.
            // The cut-off bytes must not come back, so make it durable
            // before anything new is written over them. (Zeros after the
            // last record are the unused preallocation and stay.)
            file.set_len(s.end)
                .map_err(|e| StorageError::io("ftruncate", &path, e))?;
            file.sync_data()
                .map_err(|e| StorageError::io("fdatasync", &path, e))?;
            allocated = s.end;
        }
        // Rewrite the index only when it is not already exactly `entries`.
        let exact = idx.as_ref().is_some_and(|(_, buf)| {
            buf.len() == INDEX_HEADER_BYTES + entries.len() * INDEX_ENTRY_BYTES
                && index::decode_entries(
                    &buf[INDEX_HEADER_BYTES..],
                    SEGMENT_HEADER_BYTES as u32,
                    len,
                )
                .entries
                    == entries
        });
        let (index_file, index_count) = match idx {
            Some((f, _)) if exact => (Some(f), entries.len() as u64),
            None if entries.is_empty() => (None, 0),
            _ => {
                let (f, n) = rewrite_index(io, &idx_path, base, params.interval, &entries, None)?;
                (Some(f), n)
            }
        };
        let seg = Segment::new(
            base,
            path,
            file.clone(),
            io.live_maps(),
            s.end,
            allocated,
            entries,
            params.max_payload,
        );
        Ok(Some(Recovered {
            segment: Arc::new(seg),
            file,
            index_file,
            index_count,
            end: s.end,
            allocated,
            last_key,
            last_indexed: s.last_indexed,
            torn_bytes,
        }))
    }

    /// Length of the readable part.
    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// True when the segment holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() <= SEGMENT_HEADER_BYTES
    }

    /// Publishes `len` as the readable length (writer only), after the bytes
    /// below it were written.
    pub(crate) fn publish(&self, len: u64, new_entries: &[IndexEntry]) {
        if !new_entries.is_empty() {
            if let Ok(mut idx) = self.index.write() {
                idx.extend_from_slice(new_entries);
            }
        }
        self.len.store(len, Ordering::Release);
    }

    /// Tells readers how much of the file is allocated, so that one mapping
    /// covers many appends (writer only).
    pub(crate) fn set_map_len(&self, len: u64) {
        self.map_len.store(len, Ordering::Release);
    }

    /// Mapping covering at least the readable length, and that length.
    pub(crate) fn view(&self) -> Result<(Bytes, u64)> {
        let len = self.len();
        let mut v = self
            .view
            .lock()
            .map_err(|_| corrupt(&self.path, 0, "segment view lock poisoned"))?;
        if v.covers < len {
            let want = if self.live_maps {
                self.map_len.load(Ordering::Acquire).max(len)
            } else {
                len
            };
            let bytes = self
                .file
                .map(want)
                .map_err(|e| StorageError::io("mmap", &self.path, e))?;
            *v = View {
                covers: if self.live_maps { want } else { len },
                bytes,
            };
        }
        Ok((v.bytes.clone(), len))
    }

    /// Reads the record at `pos`. `Ok(None)` at the end of the segment.
    pub fn read_at(&self, pos: u64) -> Result<Option<(Record, u64)>> {
        let (bytes, len) = self.view()?;
        self.read_in(&bytes, len, pos)
    }

    /// Reads the record at `pos` from a view taken earlier with `view`.
    pub(crate) fn read_in(
        &self,
        bytes: &Bytes,
        len: u64,
        pos: u64,
    ) -> Result<Option<(Record, u64)>> {
        Ok(self.decode_in(bytes, len, pos)?.map(|(r, end)| {
            let start = pos as usize + record::RECORD_HEADER_BYTES;
            let rec = Record {
                kind: r.kind,
                key: r.key,
                payload: bytes.slice(start..start + r.payload.len()),
            };
            (rec, end)
        }))
    }

    /// Decodes the record at `pos` in place, borrowing the view.
    pub(crate) fn decode_in<'a>(
        &self,
        bytes: &'a [u8],
        len: u64,
        pos: u64,
    ) -> Result<Option<(record::RecordRef<'a>, u64)>> {
        if pos >= len {
            if let Some((at, why)) = &self.damage {
                if pos == *at {
                    return Err(corrupt(&self.path, *at, why.clone()));
                }
            }
            return Ok(None);
        }
        let r = record::decode_from(&bytes[pos as usize..len as usize], self.max_payload)
            .map_err(|e| decode_error(&self.path, pos, e))?;
        let end = pos + r.encoded_len() as u64;
        Ok(Some((r, end)))
    }

    fn floor_pos(&self, key: u128) -> u64 {
        self.index
            .read()
            .ok()
            .and_then(|idx| index::floor_by_key(&idx, key))
            .map_or(SEGMENT_HEADER_BYTES, |e| u64::from(e.pos))
    }

    /// Position of the first record with key `>= key`.
    pub fn seek_ge(&self, key: u128) -> Result<Option<u64>> {
        let (bytes, len) = self.view()?;
        let mut pos = self.floor_pos(key);
        while let Some((rec, next)) = self.read_in(&bytes, len, pos)? {
            if rec.key >= key {
                return Ok(Some(pos));
            }
            pos = next;
        }
        Ok(None)
    }

    /// Position of the last record with key `<= key`.
    pub fn seek_le(&self, key: u128) -> Result<Option<u64>> {
        let (bytes, len) = self.view()?;
        let mut pos = self.floor_pos(key);
        let mut best = None;
        while let Some((rec, next)) = self.read_in(&bytes, len, pos)? {
            if rec.key > key {
                break;
            }
            best = Some(pos);
            pos = next;
        }
        Ok(best)
    }

    /// Positions of the records in the index chunk that ends before
    /// `before`, ascending: the records from the last index point before
    /// `before` up to `before`. Walking backward calls this once per chunk.
    pub fn chunk_before(&self, before: u64) -> Result<Vec<u64>> {
        let (bytes, len) = self.view()?;
        let start = self
            .index
            .read()
            .ok()
            .and_then(|idx| index::floor_by_pos(&idx, before.min(u64::from(u32::MAX)) as u32))
            .map_or(SEGMENT_HEADER_BYTES, |e| u64::from(e.pos));
        let mut out = Vec::new();
        let mut pos = start;
        while pos < before {
            match self.read_in(&bytes, len, pos)? {
                Some((_, next)) => {
                    out.push(pos);
                    pos = next;
                }
                None => break,
            }
        }
        Ok(out)
    }
}

/// Rewrites an index file to hold exactly `entries` (and a seal entry when
/// given). Returns the open file and the number of entries written. A crash
/// midway leaves a short index, which the next open rebuilds.
pub(crate) fn rewrite_index(
    io: &dyn Io,
    path: &Path,
    base: u128,
    interval: u32,
    entries: &[IndexEntry],
    seal: Option<(u128, u64)>,
) -> Result<(FileRef, u64)> {
    let file = io
        .open(path, true)
        .map_err(|e| StorageError::io("open", path, e))?;
    let mut buf = Vec::with_capacity(INDEX_HEADER_BYTES + entries.len() * INDEX_ENTRY_BYTES + 24);
    buf.extend_from_slice(&index::encode_header(base, interval));
    for e in entries {
        index::encode_entry(&mut buf, e.key, e.pos);
    }
    if let Some((key, end)) = seal {
        index::encode_entry(&mut buf, key, end as u32 | SEAL_BIT);
    }
    file.set_len(0)
        .map_err(|e| StorageError::io("ftruncate", path, e))?;
    file.write_at(&buf, 0)
        .map_err(|e| StorageError::io("write", path, e))?;
    Ok((file, entries.len() as u64))
}
