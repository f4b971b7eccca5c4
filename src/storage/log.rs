//! A log: an append-only sequence of records with strictly increasing keys,
//! stored as a directory of segments.
//!
//! Invariants:
//! - Segment `i` holds the keys in `[base_i, base_{i+1})`; every segment
//!   holds at least one record (an empty last segment left by a crash is
//!   removed at open), so a segment's base is its first key.
//! - Only the last segment is written to; the others are sealed, truncated
//!   to their last record and closed with a seal entry in their index.
//! - Opening reads only the last segment's tail; sealed segments are opened
//!   on first read and at most `max_open_segments` stay open.
//! - One writer at a time (the `writer` lock); readers take only `segs`,
//!   briefly, and then read through mappings without locks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use super::index::{self, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES, IndexEntry, SEAL_BIT};
use super::io::{FileRef, Io};
use super::record::{self, RecordRef};
use super::segment::{
    self, Record, SEGMENT_HEADER_BYTES, Segment, SegmentParams, index_file_name,
    parse_segment_name, segment_file_name,
};
use super::sync::{Commit, Durability, SyncStats};
use crate::config::{FsyncPolicy, LogConfig, MAX_BATCH_BYTES};
use crate::error::{Result, StorageError};

/// One record to append.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Kind byte, chosen by the layer above; must not be 0.
    pub kind: u8,
    /// Key; must be greater than every key before it in the log.
    pub key: u128,
    /// Payload.
    pub payload: &'a [u8],
}

/// What opening a log found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments in the log after recovery.
    pub segments: usize,
    /// Bytes of a torn or corrupt tail that were cut off.
    pub torn_bytes: u64,
    /// Empty segments left by an interrupted roll that were removed.
    pub removed_segments: usize,
    /// Time opening took.
    pub elapsed: Duration,
}

/// Counters of a log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Segments, sealed and active.
    pub segments: usize,
    /// Sealed segments whose mapping is open.
    pub open_segments: usize,
    /// Bytes of records and headers in the active segment.
    pub active_bytes: u64,
    /// Appends since the log was opened (the last sequence number).
    pub appends: u64,
    /// Sequence number known durable.
    pub synced: u64,
    /// fdatasync rounds and the duration of the last one.
    pub sync: SyncStats,
}

struct Active {
    seg: Arc<Segment>,
    file: FileRef,
    index_file: Option<FileRef>,
    index_count: u64,
    written: u64,
    allocated: u64,
    last_indexed: u64,
}

struct Writer {
    active: Option<Active>,
    last_key: Option<u128>,
    seq: u64,
    buf: Vec<u8>,
    index_buf: Vec<u8>,
    new_entries: Vec<IndexEntry>,
}

struct Slot {
    open: Option<Arc<Segment>>,
    used: u64,
}

struct Segs {
    sealed: BTreeMap<u128, Slot>,
    active: Option<Arc<Segment>>,
    open_count: usize,
    clock: u64,
}

struct Inner {
    dir: PathBuf,
    io: Arc<dyn Io>,
    cfg: LogConfig,
    params: SegmentParams,
    /// `cfg.segment_bytes`, changeable while open.
    segment_bytes: AtomicU64,
    segs: Mutex<Segs>,
    dur: Arc<Durability>,
}

/// An append-only log of records in one directory.
pub struct Log {
    inner: Arc<Inner>,
    writer: Mutex<Writer>,
    report: RecoveryReport,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The protected state is kept consistent at every await-free step; a
    // panic elsewhere must not wedge the log.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> StorageError + 'a {
    move |e| StorageError::io(op, path, e)
}

impl Log {
    /// Opens the log in `dir`, creating it if missing. Only the tail of the
    /// last segment is read: a torn or corrupt tail is cut off (see
    /// [`Log::recovery`]).
    ///
    /// Open a directory at most once at a time: a second `Log` on the same
    /// files would be a second writer. A [`crate::storage::Store`] ensures
    /// this (and locks its data directory against other processes).
    pub fn open(io: Arc<dyn Io>, dir: impl Into<PathBuf>, cfg: LogConfig) -> Result<Log> {
        Self::open_in(io, dir.into(), None, cfg)
    }

    pub(crate) fn open_in(
        io: Arc<dyn Io>,
        dir: PathBuf,
        fs_root: Option<PathBuf>,
        cfg: LogConfig,
    ) -> Result<Log> {
        let started = Instant::now();
        let cfg = cfg.normalized();
        let params = SegmentParams {
            interval: cfg.index_interval_bytes,
            max_payload: cfg.max_record_bytes,
        };
        if !io.exists(&dir) {
            io.create_dir_all(&dir).map_err(io_err("mkdir", &dir))?;
            if let Some(parent) = dir.parent() {
                io.sync_dir(parent).map_err(io_err("fsync", parent))?;
            }
        }
        let mut bases = Vec::new();
        let mut indexes = Vec::new();
        for name in io.read_dir(&dir).map_err(io_err("readdir", &dir))? {
            if let Some(base) = parse_segment_name(&name) {
                bases.push(base);
            } else if let Some(hex) = name.strip_suffix(".idx") {
                indexes.push((hex.to_string(), name));
            }
        }
        bases.sort_unstable();
        let mut report = RecoveryReport::default();
        let mut recovered = None;
        while let Some(&base) = bases.last() {
            match Segment::recover_tail(io.as_ref(), &dir, base, params)? {
                Some(r) if r.last_key.is_some() => {
                    report.torn_bytes += r.torn_bytes;
                    recovered = Some(r);
                    break;
                }
                other => {
                    // A segment with no complete record: an interrupted roll
                    // (or a tail torn back to the header). Nothing in it was
                    // acknowledged; remove it and recover the one before.
                    if let Some(r) = &other {
                        report.torn_bytes += r.torn_bytes;
                    }
                    drop(other);
                    remove_segment_files(io.as_ref(), &dir, base)?;
                    io.sync_dir(&dir).map_err(io_err("fsync", &dir))?;
                    report.removed_segments += 1;
                    bases.pop();
                }
            }
        }
        // Index files whose segment is gone (a removal cut short).
        for (hex, name) in indexes {
            let orphan = u128::from_str_radix(&hex, 16).map_or(true, |b| !bases.contains(&b));
            if orphan {
                let _ = io.remove_file(&dir.join(name));
            }
        }
        let active_file = recovered.as_ref().map(|r| r.file.clone());
        let dur = Durability::new(dir.clone(), fs_root, io.clone(), cfg.fsync, 0, active_file);
        let mut sealed = BTreeMap::new();
        let mut writer = Writer {
            active: None,
            last_key: None,
            seq: 0,
            buf: Vec::new(),
            index_buf: Vec::new(),
            new_entries: Vec::new(),
        };
        let mut active_seg = None;
        if let Some(r) = recovered {
            bases.pop();
            writer.last_key = r.last_key;
            active_seg = Some(r.segment.clone());
            writer.active = Some(Active {
                seg: r.segment,
                file: r.file,
                index_file: r.index_file,
                index_count: r.index_count,
                written: r.end,
                allocated: r.allocated,
                last_indexed: r.last_indexed,
            });
        }
        for base in bases {
            sealed.insert(
                base,
                Slot {
                    open: None,
                    used: 0,
                },
            );
        }
        report.segments = sealed.len() + usize::from(active_seg.is_some());
        report.elapsed = started.elapsed();
        let segment_bytes = cfg.segment_bytes;
        let inner = Arc::new(Inner {
            dir,
            io,
            cfg,
            params,
            segment_bytes: AtomicU64::new(segment_bytes),
            segs: Mutex::new(Segs {
                sealed,
                active: active_seg,
                open_count: 0,
                clock: 0,
            }),
            dur,
        });
        Ok(Log {
            inner,
            writer: Mutex::new(writer),
            report,
        })
    }

    /// What opening the log found and repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.report
    }

    /// The log's directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The log's fsync policy.
    pub fn policy(&self) -> FsyncPolicy {
        self.inner.dur.policy()
    }

    /// Changes the fsync policy of the open log. Appends submitted before
    /// keep the promise they were made under.
    pub fn set_policy(&self, policy: FsyncPolicy) {
        self.inner.dur.set_policy(policy);
    }

    /// The size at which a segment rolls.
    pub fn segment_bytes(&self) -> u64 {
        self.inner.segment_bytes.load(Ordering::Relaxed)
    }

    /// Changes the size at which segments roll (clamped as
    /// [`LogConfig::segment_bytes`] says); the active segment rolls by it
    /// from the next append.
    pub fn set_segment_bytes(&self, bytes: u64) {
        let b = bytes.clamp(4096, MAX_BATCH_BYTES);
        self.inner.segment_bytes.store(b, Ordering::Relaxed);
    }

    /// The base of the second segment: [`Log::retain_from`] a key at or
    /// below it drops nothing (a cheap test before working out a key).
    pub fn second_base(&self) -> Option<u128> {
        let segs = lock(&self.inner.segs);
        let mut bases = segs
            .sealed
            .keys()
            .copied()
            .chain(segs.active.as_ref().map(|s| s.base));
        bases.nth(1)
    }

    /// Every segment, oldest first: its base (the first key it may hold;
    /// it holds keys below the next segment's base) and its bytes.
    pub fn segments(&self) -> Result<Vec<(u128, u64)>> {
        let (bases, active) = {
            let segs = lock(&self.inner.segs);
            let bases: Vec<u128> = segs.sealed.keys().copied().collect();
            (bases, segs.active.as_ref().map(|s| (s.base, s.len())))
        };
        let mut out = Vec::with_capacity(bases.len() + 1);
        for b in bases {
            out.push((b, self.inner.sealed_len(b)?));
        }
        out.extend(active);
        Ok(out)
    }

    /// Appends one record and returns once it is durable as the log's
    /// policy promises (under `Always`, after an fdatasync covering it).
    pub fn append(&self, kind: u8, key: u128, payload: &[u8]) -> Result<u64> {
        self.append_batch(&[Entry { kind, key, payload }])
    }

    /// Appends records with one write, and returns once they are durable as
    /// the log's policy promises. Either all of them are appended or none.
    pub fn append_batch(&self, entries: &[Entry<'_>]) -> Result<u64> {
        self.submit(entries)?.wait()
    }

    /// Appends records with one write and returns at once; the [`Commit`]
    /// completes (`.await` or `.wait()`) when they are durable under the
    /// log's policy. The records are visible to readers immediately.
    pub fn submit(&self, entries: &[Entry<'_>]) -> Result<Commit> {
        let seq = {
            let mut w = lock(&self.writer);
            self.append_locked(&mut w, entries)?
        };
        let dur = (self.policy() == FsyncPolicy::Always).then(|| self.inner.dur.clone());
        Ok(Commit {
            dur,
            seq,
            inline: false,
        })
    }

    /// Like [`Log::submit`], but the records start a new segment (unless
    /// the active one holds no record yet). A layer that writes snapshots
    /// uses it so that [`Log::retain_from`] the snapshot's key then drops
    /// every older segment.
    pub fn submit_in_new_segment(&self, entries: &[Entry<'_>]) -> Result<Commit> {
        let seq = {
            let mut w = lock(&self.writer);
            let Some(first) = entries.first() else {
                return Ok(Commit {
                    dur: None,
                    seq: w.seq,
                    inline: false,
                });
            };
            if let (Some(a), Some(last)) = (&w.active, w.last_key) {
                if a.written > SEGMENT_HEADER_BYTES && first.key > last {
                    self.inner.dur.check_writable()?;
                    self.roll(&mut w, first.key)?;
                }
            }
            self.append_locked(&mut w, entries)?
        };
        let dur = (self.policy() == FsyncPolicy::Always).then(|| self.inner.dur.clone());
        Ok(Commit {
            dur,
            seq,
            inline: false,
        })
    }

    /// A commit covering every append submitted so far: under `Always` it
    /// completes once they are all durable (at once if they are already).
    /// A layer whose records depend on this log's records uses it so that
    /// they are never acknowledged before what they depend on.
    pub fn commit_written(&self) -> Commit {
        let (written, synced) = self.inner.dur.positions();
        let dur = (self.policy() == FsyncPolicy::Always && written > synced)
            .then(|| self.inner.dur.clone());
        Commit {
            dur,
            seq: written,
            inline: false,
        }
    }

    /// Makes every append so far durable, whatever the policy.
    pub fn sync(&self) -> Result<()> {
        let (written, _) = self.inner.dur.positions();
        self.inner.dur.sync_to(written)
    }

    fn append_locked(&self, w: &mut Writer, entries: &[Entry<'_>]) -> Result<u64> {
        let inner = &*self.inner;
        inner.dur.check_writable()?;
        let Some(first) = entries.first() else {
            return Ok(w.seq);
        };
        let mut last = w.last_key;
        let mut total = 0u64;
        for e in entries {
            if e.kind == 0 {
                return Err(StorageError::ReservedKind);
            }
            if let Some(l) = last {
                if e.key <= l {
                    return Err(StorageError::KeyOrder {
                        last: l,
                        got: e.key,
                    });
                }
            }
            if e.payload.len() > inner.cfg.max_record_bytes {
                return Err(StorageError::TooLarge {
                    len: e.payload.len(),
                    max: inner.cfg.max_record_bytes,
                });
            }
            last = Some(e.key);
            total += record::encoded_len(e.payload.len()) as u64;
        }
        if total > MAX_BATCH_BYTES {
            return Err(StorageError::TooLarge {
                len: total as usize,
                max: MAX_BATCH_BYTES as usize,
            });
        }
        let needs_roll = match &w.active {
            None => true,
            Some(a) => {
                a.written > SEGMENT_HEADER_BYTES
                    && a.written + total > inner.segment_bytes.load(Ordering::Relaxed)
            }
        };
        if needs_roll {
            self.roll(w, first.key)?;
        }
        let Writer {
            active,
            buf,
            index_buf,
            new_entries,
            ..
        } = w;
        let Some(a) = active.as_mut() else {
            return Err(StorageError::Closed {
                dir: inner.dir.clone(),
            });
        };
        buf.clear();
        index_buf.clear();
        new_entries.clear();
        let mut pos = a.written;
        let mut last_indexed = a.last_indexed;
        for e in entries {
            if pos - last_indexed >= u64::from(inner.cfg.index_interval_bytes) {
                new_entries.push(IndexEntry {
                    key: e.key,
                    pos: pos as u32,
                });
                index::encode_entry(index_buf, e.key, pos as u32);
                last_indexed = pos;
            }
            record::encode_into(buf, e.kind, e.key, e.payload);
            pos += record::encoded_len(e.payload.len()) as u64;
        }
        if pos > a.allocated {
            let chunk = a
                .allocated
                .clamp(inner.cfg.prealloc_min_bytes, inner.cfg.prealloc_max_bytes);
            let want = pos.max(a.allocated + chunk);
            let want = want.min(inner.segment_bytes.load(Ordering::Relaxed).max(pos));
            a.file
                .allocate(want)
                .map_err(io_err("fallocate", &a.seg.path))?;
            a.allocated = want;
            a.seg.set_map_len(want);
        }
        if !index_buf.is_empty() {
            let idx_path = inner.dir.join(index_file_name(a.seg.base));
            let file = match &a.index_file {
                Some(f) => f.clone(),
                None => {
                    let f = inner
                        .io
                        .open(&idx_path, true)
                        .map_err(io_err("create", &idx_path))?;
                    f.write_at(
                        &index::encode_header(a.seg.base, inner.cfg.index_interval_bytes),
                        0,
                    )
                    .map_err(io_err("write", &idx_path))?;
                    a.index_file = Some(f.clone());
                    f
                }
            };
            let at = INDEX_HEADER_BYTES as u64 + a.index_count * INDEX_ENTRY_BYTES as u64;
            file.write_at(index_buf, at)
                .map_err(io_err("write", &idx_path))?;
        }
        a.file
            .write_at(buf, a.written)
            .map_err(io_err("write", &a.seg.path))?;
        a.written = pos;
        a.last_indexed = last_indexed;
        a.index_count += new_entries.len() as u64;
        a.seg.publish(pos, new_entries);
        w.last_key = last;
        w.seq += 1;
        inner.dur.note_write(w.seq);
        Ok(w.seq)
    }

    /// Seals the active segment and starts a new one whose first key will be
    /// `base`.
    fn roll(&self, w: &mut Writer, base: u128) -> Result<()> {
        let inner = &*self.inner;
        if let Some(a) = &mut w.active {
            // Seal: the index gets its seal entry, the file loses its unused
            // preallocation. Readers only read below `written`.
            let idx_path = inner.dir.join(index_file_name(a.seg.base));
            let last_key = w.last_key.unwrap_or(a.seg.base);
            let mut seal = Vec::with_capacity(INDEX_ENTRY_BYTES);
            index::encode_entry(&mut seal, last_key, a.written as u32 | SEAL_BIT);
            let file = match &a.index_file {
                Some(f) => f.clone(),
                None => {
                    let (f, _) = segment::rewrite_index(
                        inner.io.as_ref(),
                        &idx_path,
                        a.seg.base,
                        inner.cfg.index_interval_bytes,
                        &[],
                        None,
                    )?;
                    a.index_file = Some(f.clone());
                    f
                }
            };
            let at = INDEX_HEADER_BYTES as u64 + a.index_count * INDEX_ENTRY_BYTES as u64;
            file.write_at(&seal, at)
                .map_err(io_err("write", &idx_path))?;
            if a.allocated > a.written {
                a.file
                    .set_len(a.written)
                    .map_err(io_err("ftruncate", &a.seg.path))?;
                a.allocated = a.written;
            }
        }
        let (seg, file) = match Segment::create(
            inner.io.as_ref(),
            &inner.dir,
            base,
            inner.cfg.prealloc_min_bytes,
            inner.params,
        ) {
            Ok(v) => v,
            Err(e) => {
                let _ = remove_segment_files(inner.io.as_ref(), &inner.dir, base);
                return Err(e);
            }
        };
        if let Err(e) = inner.io.sync_dir(&inner.dir) {
            drop((seg, file));
            let _ = remove_segment_files(inner.io.as_ref(), &inner.dir, base);
            return Err(StorageError::io("fsync", &inner.dir, e));
        }
        let old = w.active.replace(Active {
            seg: seg.clone(),
            file: file.clone(),
            index_file: None,
            index_count: 0,
            written: SEGMENT_HEADER_BYTES,
            allocated: inner.cfg.prealloc_min_bytes.max(SEGMENT_HEADER_BYTES),
            last_indexed: SEGMENT_HEADER_BYTES,
        });
        let mut segs = lock(&inner.segs);
        segs.active = Some(seg);
        match old {
            Some(old) => {
                inner.dur.note_roll(old.file, file);
                segs.clock += 1;
                let used = segs.clock;
                segs.sealed.insert(
                    old.seg.base,
                    Slot {
                        open: Some(old.seg),
                        used,
                    },
                );
                segs.open_count += 1;
                inner.evict(&mut segs);
            }
            None => inner.dur.note_roll_first(file),
        }
        Ok(())
    }

    /// Key of the first record, if any.
    pub fn first_key(&self) -> Option<u128> {
        let segs = lock(&self.inner.segs);
        segs.sealed
            .keys()
            .next()
            .copied()
            .or(segs.active.as_ref().map(|s| s.base))
    }

    /// Key of the last record, if any.
    pub fn last_key(&self) -> Option<u128> {
        lock(&self.writer).last_key
    }

    /// The first record with key `>= key`.
    pub fn first_ge(&self, key: u128) -> Result<Option<Record>> {
        self.iter_from(key)?.next().transpose()
    }

    /// The last record with key `<= key`.
    pub fn last_le(&self, key: u128) -> Result<Option<Record>> {
        self.iter_back_from(key)?.next().transpose()
    }

    /// Iterates forward from the first record with key `>= key`.
    pub fn iter_from(&self, key: u128) -> Result<Iter> {
        let inner = self.inner.clone();
        let mut base = inner.floor_base(key).or_else(|| inner.next_base(None));
        while let Some(b) = base {
            let Some(seg) = inner.segment(b)? else {
                // Dropped by retention: the log now starts later.
                base = inner.next_base(Some(b));
                continue;
            };
            let searched = seg.len();
            if let Some(pos) = seg.seek_ge(key)? {
                return Ok(Iter {
                    inner,
                    cur: Some(Cursor::new(seg, pos)?),
                });
            }
            base = inner.next_base(Some(b));
            if base.is_some() && seg.len() > searched {
                // The segment grew while it was searched, then rolled: what
                // it gained may hold the key. Search it again.
                base = Some(b);
            }
        }
        Ok(Iter { inner, cur: None })
    }

    /// Iterates backward from the last record with key `<= key`.
    pub fn iter_back_from(&self, key: u128) -> Result<RevIter> {
        let inner = self.inner.clone();
        let mut base = inner.floor_base(key);
        while let Some(b) = base {
            // A segment dropped by retention meanwhile: nothing is left at
            // or below `key`.
            let Some(seg) = inner.segment(b)? else {
                break;
            };
            if let Some(pos) = seg.seek_le(key)? {
                let chunk = seg.chunk_before(pos + 1)?;
                return Ok(RevIter {
                    inner,
                    seg: Some(seg),
                    chunk,
                    failed: false,
                });
            }
            base = inner.prev_base(b);
        }
        Ok(RevIter {
            inner,
            seg: None,
            chunk: Vec::new(),
            failed: false,
        })
    }

    /// Drops whole sealed segments whose keys are all below `key`. Returns
    /// how many were dropped. The active segment is never dropped.
    pub fn retain_from(&self, key: u128) -> Result<usize> {
        let doomed: Vec<u128> = {
            let segs = lock(&self.inner.segs);
            let bases: Vec<u128> = segs
                .sealed
                .keys()
                .copied()
                .chain(segs.active.as_ref().map(|s| s.base))
                .collect();
            bases
                .windows(2)
                .take_while(|w| w[1] <= key)
                .map(|w| w[0])
                .collect()
        };
        self.inner.drop_segments(&doomed)
    }

    /// Drops the oldest sealed segments while the log is larger than
    /// `max_bytes`. Returns how many were dropped.
    pub fn retain_bytes(&self, max_bytes: u64) -> Result<usize> {
        let segs = self.segments()?;
        let mut total: u64 = segs.iter().map(|s| s.1).sum();
        let mut doomed = Vec::new();
        // The last one is the active segment, never dropped.
        for &(b, size) in segs.iter().take(segs.len().saturating_sub(1)) {
            if total <= max_bytes {
                break;
            }
            doomed.push(b);
            total -= size;
        }
        self.inner.drop_segments(&doomed)
    }

    /// Drops the oldest sealed segments last written before `now - max_age`.
    /// Returns how many were dropped.
    pub fn retain_age(&self, max_age: Duration, now: SystemTime) -> Result<usize> {
        let bases: Vec<u128> = lock(&self.inner.segs).sealed.keys().copied().collect();
        let mut doomed = Vec::new();
        for b in bases {
            let path = self.inner.dir.join(segment_file_name(b));
            let f = self
                .inner
                .io
                .open(&path, false)
                .map_err(io_err("open", &path))?;
            let modified = f.modified().map_err(io_err("stat", &path))?;
            match now.duration_since(modified) {
                Ok(age) if age > max_age => doomed.push(b),
                _ => break,
            }
        }
        self.inner.drop_segments(&doomed)
    }

    /// Counters of the log.
    pub fn stats(&self) -> LogStats {
        let segs = lock(&self.inner.segs);
        let (written, synced) = self.inner.dur.positions();
        LogStats {
            segments: segs.sealed.len() + usize::from(segs.active.is_some()),
            open_segments: segs.open_count,
            active_bytes: segs.active.as_ref().map_or(0, |s| s.len()),
            appends: written,
            synced,
            sync: self.inner.dur.stats(),
        }
    }

    /// Bytes on disk of records and headers, all segments.
    pub fn disk_bytes(&self) -> Result<u64> {
        Ok(self.segments()?.iter().map(|s| s.1).sum())
    }

    /// Syncs as the policy requires and closes the log.
    pub fn close(self) -> Result<()> {
        self.close_ref()
    }

    fn close_ref(&self) -> Result<()> {
        if self.policy() != FsyncPolicy::No {
            self.sync()?;
        }
        Ok(())
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // Best effort: an error here was already reported to any appender
        // that waited, and the log refuses writes after it.
        let _ = self.close_ref();
    }
}

fn remove_segment_files(io: &dyn Io, dir: &Path, base: u128) -> Result<()> {
    for name in [segment_file_name(base), index_file_name(base)] {
        let path = dir.join(name);
        if io.exists(&path) {
            io.remove_file(&path).map_err(io_err("unlink", &path))?;
        }
    }
    Ok(())
}

impl Inner {
    /// Base of the last segment whose base is `<= key`.
    fn floor_base(&self, key: u128) -> Option<u128> {
        let segs = lock(&self.segs);
        if let Some(a) = &segs.active {
            if a.base <= key {
                return Some(a.base);
            }
        }
        segs.sealed.range(..=key).next_back().map(|(b, _)| *b)
    }

    /// Base of the segment after `after` (the first one for `None`).
    fn next_base(&self, after: Option<u128>) -> Option<u128> {
        let segs = lock(&self.segs);
        let sealed = match after {
            None => segs.sealed.keys().next().copied(),
            Some(a) => segs
                .sealed
                .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded))
                .next()
                .map(|(b, _)| *b),
        };
        sealed.or_else(|| {
            segs.active
                .as_ref()
                .map(|s| s.base)
                .filter(|&b| after.is_none_or(|a| b > a))
        })
    }

    fn prev_base(&self, before: u128) -> Option<u128> {
        let segs = lock(&self.segs);
        segs.sealed.range(..before).next_back().map(|(b, _)| *b)
    }

    /// The segment with this base, opening it if needed; `None` when
    /// retention dropped it meanwhile (it held only keys below the log's
    /// new start).
    fn segment(&self, base: u128) -> Result<Option<Arc<Segment>>> {
        let mut segs = lock(&self.segs);
        if let Some(a) = &segs.active {
            if a.base == base {
                return Ok(Some(a.clone()));
            }
        }
        segs.clock += 1;
        let now = segs.clock;
        let Some(slot) = segs.sealed.get_mut(&base) else {
            return Ok(None);
        };
        slot.used = now;
        if let Some(s) = &slot.open {
            return Ok(Some(s.clone()));
        }
        let seg = Segment::open_sealed(self.io.as_ref(), &self.dir, base, self.params)?;
        slot.open = Some(seg.clone());
        segs.open_count += 1;
        self.evict(&mut segs);
        Ok(Some(seg))
    }

    /// Closes least recently used sealed segments beyond the limit. Readers
    /// holding one keep it alive until they let go.
    fn evict(&self, segs: &mut Segs) {
        while segs.open_count > self.cfg.max_open_segments {
            let victim = segs
                .sealed
                .iter()
                .filter(|(_, s)| s.open.is_some())
                .min_by_key(|(_, s)| s.used)
                .map(|(b, _)| *b);
            match victim.and_then(|b| segs.sealed.get_mut(&b)) {
                Some(slot) => {
                    slot.open = None;
                    segs.open_count -= 1;
                }
                None => break,
            }
        }
    }

    fn sealed_len(&self, base: u128) -> Result<u64> {
        if let Some(Some(seg)) = lock(&self.segs).sealed.get(&base).map(|s| s.open.clone()) {
            return Ok(seg.len());
        }
        let path = self.dir.join(segment_file_name(base));
        let f = self.io.open(&path, false).map_err(io_err("open", &path))?;
        f.len().map_err(io_err("stat", &path))
    }

    fn drop_segments(&self, bases: &[u128]) -> Result<usize> {
        if bases.is_empty() {
            return Ok(0);
        }
        {
            let mut segs = lock(&self.segs);
            for b in bases {
                if let Some(slot) = segs.sealed.remove(b) {
                    if slot.open.is_some() {
                        segs.open_count -= 1;
                    }
                }
            }
        }
        for &b in bases {
            // Open mappings stay valid after unlink; readers finish undisturbed.
            remove_segment_files(self.io.as_ref(), &self.dir, b)?;
        }
        self.io
            .sync_dir(&self.dir)
            .map_err(io_err("fsync", &self.dir))?;
        Ok(bases.len())
    }
}

/// Forward iterator over records. Records appended while it runs are seen
/// if it has not yet passed the end. If retention drops segments ahead of
/// it, it goes on at the log's new start (it finishes a segment it is
/// already in: the mapping stays valid).
pub struct Iter {
    inner: Arc<Inner>,
    cur: Option<Cursor>,
}

/// Where a forward iterator stands: a segment, a position in it, and the
/// view of the segment it reads through (refreshed when it reaches the end of
/// what the view covers, so new appends are seen).
struct Cursor {
    seg: Arc<Segment>,
    pos: u64,
    view: Bytes,
    len: u64,
}

impl Cursor {
    fn new(seg: Arc<Segment>, pos: u64) -> Result<Cursor> {
        let (view, len) = seg.view()?;
        Ok(Cursor {
            seg,
            pos,
            view,
            len,
        })
    }
}

impl Iter {
    /// Called when the cursor reached the end of its view: refreshes the
    /// view (to see new appends) or moves to the next segment. Returns
    /// false at the end of the log.
    fn advance(&mut self) -> Result<bool> {
        let Some(c) = self.cur.as_mut() else {
            return Ok(false);
        };
        let (view, len) = c.seg.view()?;
        c.view = view;
        c.len = len;
        if c.pos < c.len {
            return Ok(true);
        }
        // The end of this segment: surface damage recorded at its end.
        c.seg.decode_in(&c.view, c.len, c.pos)?;
        let Some(next) = self.inner.next_base(Some(c.seg.base)) else {
            return Ok(false);
        };
        // A next segment exists, so this one is sealed and its final length
        // was published before the roll; it may have grown since the view
        // above was taken.
        if c.seg.len() > c.pos {
            return Ok(true);
        }
        let mut next = Some(next);
        while let Some(base) = next {
            match self.inner.segment(base)? {
                Some(seg) => {
                    self.cur = Some(Cursor::new(seg, SEGMENT_HEADER_BYTES)?);
                    return Ok(true);
                }
                // Dropped by retention meanwhile: go on to the next one.
                None => next = self.inner.next_base(Some(base)),
            }
        }
        Ok(false)
    }

    /// Calls `f` on each record in place, without creating a `Record` (no
    /// reference counting), until `f` returns false or the log ends.
    /// Returns how many records `f` saw. The borrowed record lives only for
    /// the call.
    pub fn visit(&mut self, mut f: impl FnMut(RecordRef<'_>) -> bool) -> Result<u64> {
        self.visit_in(|r, _| f(r))
    }

    /// As [`Iter::visit`], and `f` also gets the buffer the record lies
    /// in, so that it can keep a part of the payload without copying it
    /// (`Bytes::slice_ref`).
    pub fn visit_in(&mut self, mut f: impl FnMut(RecordRef<'_>, &Bytes) -> bool) -> Result<u64> {
        let mut seen = 0;
        loop {
            if let Some(c) = self.cur.as_mut() {
                while let Some((r, next)) = c.seg.decode_in(&c.view, c.len, c.pos)? {
                    c.pos = next;
                    seen += 1;
                    if !f(r, &c.view) {
                        return Ok(seen);
                    }
                }
            }
            if !self.advance()? {
                return Ok(seen);
            }
        }
    }
}

impl Iterator for Iter {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let c = self.cur.as_mut()?;
            if c.pos < c.len {
                match c.seg.read_in(&c.view, c.len, c.pos) {
                    Ok(Some((rec, next))) => {
                        c.pos = next;
                        return Some(Ok(rec));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.cur = None;
                        return Some(Err(e));
                    }
                }
            }
            match self.advance() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => {
                    self.cur = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Backward iterator over records.
pub struct RevIter {
    inner: Arc<Inner>,
    seg: Option<Arc<Segment>>,
    /// Positions still to return in the current index chunk, ascending.
    chunk: Vec<u64>,
    failed: bool,
}

impl Iterator for RevIter {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let seg = self.seg.clone()?;
            if let Some(pos) = self.chunk.pop() {
                if self.chunk.is_empty() && pos > SEGMENT_HEADER_BYTES {
                    match seg.chunk_before(pos) {
                        Ok(c) => self.chunk = c,
                        Err(e) => {
                            self.failed = true;
                            return Some(Err(e));
                        }
                    }
                }
                return match seg.read_at(pos) {
                    Ok(Some((rec, _))) => Some(Ok(rec)),
                    Ok(None) => None,
                    Err(e) => {
                        self.failed = true;
                        Some(Err(e))
                    }
                };
            }
            let prev = self.inner.prev_base(seg.base);
            let Some(prev) = prev else {
                self.seg = None;
                return None;
            };
            match self.inner.segment(prev).and_then(|s| match s {
                Some(s) => s.chunk_before(s.len()).map(|c| Some((s, c))),
                None => Ok(None),
            }) {
                Ok(Some((s, c))) => {
                    self.seg = Some(s);
                    self.chunk = c;
                }
                // Dropped by retention meanwhile: the log starts after it.
                Ok(None) => {
                    self.seg = None;
                    return None;
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
