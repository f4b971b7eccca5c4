//! Lists and strings (issue 5): values held in memory, in the same keyspace
//! as streams. Every change is an [`Op`], written to an append-only journal
//! (the storage layer's [`Log`], under the server's fsync policy) before it
//! is applied, and the journal is replayed at open. A command's ops go in
//! one record, so a crash keeps all of them or none.
//!
//! Streams are kept by the catalog, lists and strings by the journal. The
//! two logs are separate, but the only way they can disagree about a key is
//! a journal tail lost under `everysec` or `no` that held the delete of a
//! list or string which a stream later replaced (the catalog is synced on
//! every change). A stream's key therefore wins at replay: a journal op on
//! a key the catalog gives to a stream is skipped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::codec::{self, Malformed, Reader};
use super::keyspace::{KeyType, Keyspace, Slot};
use super::own;
use crate::error::StorageError;
use crate::storage::{Commit, Entry, Log};

/// A value held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A list.
    List(VecDeque<Bytes>),
    /// A string.
    Str(Bytes),
}

impl Value {
    /// The key type the value makes.
    pub fn kind(&self) -> KeyType {
        match self {
            Value::List(_) => KeyType::List,
            Value::Str(_) => KeyType::String,
        }
    }
}

/// A change to the in-memory keyspace, resolved so that applying it again
/// to the same state gives the same result (positions, not pivots; times,
/// not durations). `db` is a database number, `key` the key.
#[allow(missing_docs)] // Fields are named for what they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets a string, replacing any list or string; `expire_at` 0 for none.
    Set {
        db: usize,
        key: Bytes,
        value: Bytes,
        expire_at: u64,
    },
    /// Deletes a list or string.
    Del { db: usize, key: Bytes },
    /// Sets (Unix ms) or clears (0) a list's or string's expiry time.
    Expire { db: usize, key: Bytes, at: u64 },
    /// Pushes items, one after the other, at the head or the tail (creates
    /// the list).
    Push {
        db: usize,
        key: Bytes,
        tail: bool,
        items: Vec<Bytes>,
    },
    /// Pops up to `count` items from the head or the tail; an emptied list
    /// is deleted.
    Pop {
        db: usize,
        key: Bytes,
        tail: bool,
        count: u64,
    },
    /// Replaces the item at `index`.
    LSet {
        db: usize,
        key: Bytes,
        index: u64,
        value: Bytes,
    },
    /// Inserts an item so that it ends up at `index`.
    LInsert {
        db: usize,
        key: Bytes,
        index: u64,
        value: Bytes,
    },
    /// LREM: removes up to |count| items equal to `value`, from the head
    /// (count ≥ 0, 0 for all) or from the tail.
    LRem {
        db: usize,
        key: Bytes,
        count: i64,
        value: Bytes,
    },
    /// Keeps the items in `[start, end)`; an emptied list is deleted.
    LTrim {
        db: usize,
        key: Bytes,
        start: u64,
        end: u64,
    },
    /// Pops one item from `src` (head or tail) and pushes it on `dst`.
    LMove {
        db: usize,
        src: Bytes,
        dst: Bytes,
        from_tail: bool,
        to_tail: bool,
    },
    /// Renames a list or string, replacing any list or string at `to`.
    Rename { db: usize, key: Bytes, to: Bytes },
    /// Moves a list or string to another database.
    MoveDb { db: usize, key: Bytes, to_db: usize },
    /// Copies a list or string, replacing any list or string at the
    /// destination.
    Copy {
        db: usize,
        key: Bytes,
        to_db: usize,
        to_key: Bytes,
    },
    /// Swaps the lists and strings of two databases (SWAPDB; the catalog
    /// swaps the streams).
    SwapDb { a: usize, b: usize },
}

/// What applying an op gave.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Items popped or moved.
    pub items: Vec<Bytes>,
    /// Items removed (LREM) or the list's length after a push.
    pub n: u64,
}

/// The one record kind of the journal: a command's ops.
pub(crate) const J_OPS: u8 = 1;

/// The bytes a staging buffer keeps free at its front, for the count of
/// the ops that follow (a varint of at most 10 bytes).
pub(super) const COUNT_ROOM: usize = 10;

const OP_SET: u64 = 1;
const OP_DEL: u64 = 2;
const OP_EXPIRE: u64 = 3;
const OP_PUSH: u64 = 4;
const OP_POP: u64 = 5;
const OP_LSET: u64 = 6;
const OP_LINSERT: u64 = 7;
const OP_LREM: u64 = 8;
const OP_LTRIM: u64 = 9;
const OP_LMOVE: u64 = 10;
const OP_RENAME: u64 = 11;
const OP_MOVEDB: u64 = 12;
const OP_COPY: u64 = 13;
const OP_SWAPDB: u64 = 14;

fn put_bool(b: &mut Vec<u8>, v: bool) {
    codec::put_u64(b, u64::from(v));
}

fn put_i64(b: &mut Vec<u8>, v: i64) {
    // Zigzag, so that small negative counts stay short.
    codec::put_u64(b, ((v << 1) ^ (v >> 63)) as u64);
}

fn get_i64(r: &mut Reader<&[u8]>) -> Result<i64, Malformed> {
    let z = r.u64()?;
    Ok((z >> 1) as i64 ^ -((z & 1) as i64))
}

fn get_bytes(r: &mut Reader<&[u8]>, buf: &[u8]) -> Result<Bytes, Malformed> {
    let at = r.range()?;
    Ok(Bytes::copy_from_slice(buf.get(at).ok_or(Malformed)?))
}

fn get_usize(r: &mut Reader<&[u8]>) -> Result<usize, Malformed> {
    usize::try_from(r.u64()?).map_err(|_| Malformed)
}

impl Op {
    /// Appends the op's encoding to `b`.
    pub fn encode_into(&self, b: &mut Vec<u8>) {
        match self {
            Op::Set {
                db,
                key,
                value,
                expire_at,
            } => {
                codec::put_u64(b, OP_SET);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
                codec::put_bytes(b, value);
                codec::put_u64(b, *expire_at);
            }
            Op::Del { db, key } => {
                codec::put_u64(b, OP_DEL);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
            }
            Op::Expire { db, key, at } => {
                codec::put_u64(b, OP_EXPIRE);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
                codec::put_u64(b, *at);
            }
            Op::Push {
                db,
                key,
                tail,
                items,
            } => {
                codec::put_u64(b, OP_PUSH);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
                put_bool(b, *tail);
                codec::put_u64(b, items.len() as u64);
                for it in items {
                    codec::put_bytes(b, it);
                }
            }
            Op::Pop {
                db,
                key,
                tail,
                count,
            } => {
                codec::put_u64(b, OP_POP);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
                put_bool(b, *tail);
                codec::put_u64(b, *count);
            }
            Op::LSet {
                db,
                key,
                index,
                value,
            }
            | Op::LInsert {
                db,
                key,
                index,
                value,
            } => {
                let code = if matches!(self, Op::LSet { .. }) {
                    OP_LSET
                } else {
                    OP_LINSERT
                };
                codec::put_u64(b, code);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
                codec::put_u64(b, *index);
                codec::put_bytes(b, value);
            }
            Op::LRem {
                db,
                key,
                count,
                value,
            } => {
                codec::put_u64(b, OP_LREM);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
                put_i64(b, *count);
                codec::put_bytes(b, value);
            }
            Op::LTrim {
                db,
                key,
                start,
                end,
            } => {
                codec::put_u64(b, OP_LTRIM);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
                codec::put_u64(b, *start);
                codec::put_u64(b, *end);
            }
            Op::LMove {
                db,
                src,
                dst,
                from_tail,
                to_tail,
            } => {
                codec::put_u64(b, OP_LMOVE);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, src);
                codec::put_bytes(b, dst);
                put_bool(b, *from_tail);
                put_bool(b, *to_tail);
            }
            Op::Rename { db, key, to } => {
                codec::put_u64(b, OP_RENAME);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
                codec::put_bytes(b, to);
            }
            Op::MoveDb { db, key, to_db } => {
                codec::put_u64(b, OP_MOVEDB);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
                codec::put_u64(b, *to_db as u64);
            }
            Op::Copy {
                db,
                key,
                to_db,
                to_key,
            } => {
                codec::put_u64(b, OP_COPY);
                codec::put_u64(b, *db as u64);
                codec::put_bytes(b, key);
                codec::put_u64(b, *to_db as u64);
                codec::put_bytes(b, to_key);
            }
            Op::SwapDb { a, b: other } => {
                codec::put_u64(b, OP_SWAPDB);
                codec::put_u64(b, *a as u64);
                codec::put_u64(b, *other as u64);
            }
        }
    }

    /// Decodes one op.
    fn decode(r: &mut Reader<&[u8]>, buf: &[u8]) -> Result<Op, Malformed> {
        let code = r.u64()?;
        if code == OP_SWAPDB {
            return Ok(Op::SwapDb {
                a: get_usize(r)?,
                b: get_usize(r)?,
            });
        }
        let db = get_usize(r)?;
        let key = get_bytes(r, buf)?;
        Ok(match code {
            OP_SET => Op::Set {
                db,
                key,
                value: get_bytes(r, buf)?,
                expire_at: r.u64()?,
            },
            OP_DEL => Op::Del { db, key },
            OP_EXPIRE => Op::Expire {
                db,
                key,
                at: r.u64()?,
            },
            OP_PUSH => {
                let tail = r.u64()? != 0;
                let n = r.len(buf.len())?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(get_bytes(r, buf)?);
                }
                Op::Push {
                    db,
                    key,
                    tail,
                    items,
                }
            }
            OP_POP => Op::Pop {
                db,
                key,
                tail: r.u64()? != 0,
                count: r.u64()?,
            },
            OP_LSET => Op::LSet {
                db,
                key,
                index: r.u64()?,
                value: get_bytes(r, buf)?,
            },
            OP_LINSERT => Op::LInsert {
                db,
                key,
                index: r.u64()?,
                value: get_bytes(r, buf)?,
            },
            OP_LREM => Op::LRem {
                db,
                key,
                count: get_i64(r)?,
                value: get_bytes(r, buf)?,
            },
            OP_LTRIM => Op::LTrim {
                db,
                key,
                start: r.u64()?,
                end: r.u64()?,
            },
            OP_LMOVE => Op::LMove {
                db,
                src: key,
                dst: get_bytes(r, buf)?,
                from_tail: r.u64()? != 0,
                to_tail: r.u64()? != 0,
            },
            OP_RENAME => Op::Rename {
                db,
                key,
                to: get_bytes(r, buf)?,
            },
            OP_MOVEDB => Op::MoveDb {
                db,
                key,
                to_db: get_usize(r)?,
            },
            OP_COPY => Op::Copy {
                db,
                key,
                to_db: get_usize(r)?,
                to_key: get_bytes(r, buf)?,
            },
            _ => return Err(Malformed),
        })
    }

    /// The (db, key)s the op writes: blocked clients on them may be served.
    pub fn touched(&self) -> Vec<(usize, Bytes)> {
        match self {
            Op::Set { db, key, .. }
            | Op::Del { db, key }
            | Op::Expire { db, key, .. }
            | Op::Push { db, key, .. }
            | Op::Pop { db, key, .. }
            | Op::LSet { db, key, .. }
            | Op::LInsert { db, key, .. }
            | Op::LRem { db, key, .. }
            | Op::LTrim { db, key, .. } => vec![(*db, key.clone())],
            Op::LMove { db, src, dst, .. } => vec![(*db, src.clone()), (*db, dst.clone())],
            Op::Rename { db, key, to } => vec![(*db, key.clone()), (*db, to.clone())],
            Op::MoveDb { db, key, to_db } => vec![(*db, key.clone()), (*to_db, key.clone())],
            Op::Copy { to_db, to_key, .. } => vec![(*to_db, to_key.clone())],
            Op::SwapDb { .. } => Vec::new(),
        }
    }
}

/// Encodes a command's ops as one journal payload.
pub fn encode_ops(ops: &[Op]) -> Vec<u8> {
    let mut b = Vec::new();
    codec::put_u64(&mut b, ops.len() as u64);
    for op in ops {
        op.encode_into(&mut b);
    }
    b
}

/// Decodes a journal payload.
pub fn decode_ops(buf: &[u8]) -> Result<Vec<Op>, Malformed> {
    let mut r = Reader::new(buf);
    let n = r.len(buf.len())?;
    let mut ops = Vec::with_capacity(n);
    for _ in 0..n {
        ops.push(Op::decode(&mut r, buf)?);
    }
    if !r.is_empty() {
        return Err(Malformed);
    }
    Ok(ops)
}

/// Why an op could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The key holds a stream (or, for list ops, a string).
    WrongType,
    /// A database number out of range.
    DbIndex,
}

/// A compaction starts: the state at this record is the snapshot that
/// follows. Payload empty; the record's key names the snapshot.
pub(crate) const J_SNAP_BEGIN: u8 = 2;
/// Part of a snapshot: the BEGIN key, then ops that rebuild some keys.
pub(crate) const J_SNAP_ITEM: u8 = 3;
/// A snapshot is complete (payload: its BEGIN key).
pub(crate) const J_SNAP_END: u8 = 4;

/// Bytes of ops per snapshot record.
const SNAP_CHUNK_BYTES: usize = 1 << 20;

/// The journal: where ops go before they are applied.
///
/// It is compacted as Redis rewrites its AOF: once it has grown by
/// `rewrite_pct` percent over its size after the last compaction (and past
/// `rewrite_min` bytes), the state is copied at a BEGIN record written in a
/// new segment, and a background thread writes the copy as ops in ITEM
/// records, then an END record. Op records go on being written meanwhile,
/// after BEGIN. Once END is durable, the segments before BEGIN are
/// dropped. Replay starts from the last complete snapshot: its items, then
/// the ops after its BEGIN; with none complete, every op from the start.
/// So a crash at any point of a compaction loses nothing.
pub struct Journal {
    pub(super) log: Arc<Log>,
    /// The last record's key; held while a record is submitted, so that
    /// keys grow in the order records are written.
    last: Mutex<u128>,
    /// Bytes written since the log's start (approximately its size).
    size: AtomicU64,
    /// `size` when the last compaction ended.
    base: AtomicU64,
    compacting: AtomicBool,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Redis's `auto-aof-rewrite-percentage` (0: never by itself).
    pub rewrite_pct: AtomicU64,
    /// Redis's `auto-aof-rewrite-min-size`.
    pub rewrite_min: AtomicU64,
    /// Compactions completed since open.
    pub compactions: AtomicU64,
    /// Compactions that failed since the last that completed (Redis's
    /// `aof_rewrites_consecutive_failures`).
    pub failures: AtomicU64,
}

/// What a compaction copies: each list's or string's database, key,
/// value and expiry time.
pub(super) type SnapshotItems = Vec<(usize, Bytes, Value, u64)>;

impl Journal {
    /// The journal of `log`, whose records end at `last`.
    pub(super) fn new(log: Arc<Log>, last: u128) -> Journal {
        let size = log.disk_bytes().unwrap_or(0);
        Journal {
            log,
            last: Mutex::new(last),
            size: AtomicU64::new(size),
            base: AtomicU64::new(size),
            compacting: AtomicBool::new(false),
            worker: Mutex::new(None),
            rewrite_pct: AtomicU64::new(100),
            rewrite_min: AtomicU64::new(64 << 20),
            compactions: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    fn submit(
        &self,
        kind: u8,
        payload: &[u8],
        new_segment: bool,
    ) -> Result<(u128, Commit), StorageError> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let key = last.saturating_add(1);
        let entry = [Entry { kind, key, payload }];
        let commit = if new_segment {
            self.log.submit_in_new_segment(&entry)?
        } else {
            self.log.submit(&entry)?
        };
        *last = key;
        self.size
            .fetch_add(payload.len() as u64 + 32, Ordering::Relaxed);
        Ok((key, commit))
    }

    /// Writes one record holding `ops`; returns its commit.
    pub(super) fn write(&self, ops: &[Op]) -> Result<Commit, StorageError> {
        Ok(self.submit(J_OPS, &encode_ops(ops), false)?.1)
    }

    /// Writes one record holding `n` ops encoded one after the other in
    /// `buf` after its first [`COUNT_ROOM`] bytes, where the count goes:
    /// the record is written from `buf` itself, with no copy.
    pub(super) fn write_encoded(&self, n: u64, buf: &mut [u8]) -> Result<Commit, StorageError> {
        let mut count = Vec::with_capacity(COUNT_ROOM);
        codec::put_u64(&mut count, n);
        let start = COUNT_ROOM - count.len();
        let Some(room) = buf.get_mut(start..COUNT_ROOM) else {
            // Shorter than its room: no op follows it.
            return Ok(self.submit(J_OPS, &count, false)?.1);
        };
        room.copy_from_slice(&count);
        Ok(self.submit(J_OPS, &buf[start..], false)?.1)
    }

    /// Bytes the journal holds, about.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// True while a compaction runs.
    pub fn compacting(&self) -> bool {
        self.compacting.load(Ordering::Acquire)
    }

    /// True when the journal has grown enough to be compacted.
    pub(super) fn wants_compaction(&self) -> bool {
        let pct = self.rewrite_pct.load(Ordering::Relaxed);
        if pct == 0 || self.compacting() {
            return false;
        }
        let size = self.size();
        let base = self.base.load(Ordering::Relaxed);
        size >= self.rewrite_min.load(Ordering::Relaxed)
            && size.saturating_sub(base).saturating_mul(100) >= base.max(1).saturating_mul(pct)
    }

    /// Starts a compaction of `items`, the state as of now (the caller
    /// holds the keyspace lock, so no op is written in between): writes
    /// BEGIN and leaves the rest to a thread. False when one runs already.
    pub(super) fn compact(self: &Arc<Self>, items: SnapshotItems) -> Result<bool, StorageError> {
        if self.compacting.swap(true, Ordering::AcqRel) {
            return Ok(false);
        }
        let begin = match self.submit(J_SNAP_BEGIN, &[], true) {
            Ok((key, _)) => key,
            Err(e) => {
                self.failed();
                self.compacting.store(false, Ordering::Release);
                return Err(e);
            }
        };
        let size_at_begin = self.size();
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("brook-compact".into())
            .spawn(move || {
                let started = std::time::Instant::now();
                match me.write_snapshot(begin, items) {
                    Ok(bytes) => {
                        // What the dropped segments held no longer counts;
                        // the snapshot was counted as it was written.
                        let before = me.size.fetch_sub(size_at_begin, Ordering::AcqRel);
                        let size = before.saturating_sub(size_at_begin);
                        me.base.store(size, Ordering::Relaxed);
                        me.compactions.fetch_add(1, Ordering::Relaxed);
                        me.failures.store(0, Ordering::Relaxed);
                        tracing::info!(
                            "journal compacted: a snapshot of {} bytes, {} bytes now, in {} ms",
                            bytes,
                            size,
                            started.elapsed().as_millis()
                        );
                    }
                    Err(e) => {
                        me.failed();
                        tracing::warn!("journal compaction failed, the journal is kept whole: {e}");
                    }
                }
                me.compacting.store(false, Ordering::Release);
            });
        match spawned {
            Ok(h) => {
                *self.worker.lock().unwrap_or_else(|e| e.into_inner()) = Some(h);
                Ok(true)
            }
            Err(e) => {
                self.failed();
                self.compacting.store(false, Ordering::Release);
                Err(StorageError::Io {
                    op: "spawn",
                    path: self.log.dir().to_path_buf(),
                    source: e,
                })
            }
        }
    }

    /// A compaction failed: not again before the journal grows as much
    /// more (a failure at every write would copy every list each time).
    fn failed(&self) {
        self.base.store(self.size(), Ordering::Relaxed);
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Waits for a running compaction to end.
    pub(super) fn wait_compaction(&self) {
        let h = self.worker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = h {
            let _ = h.join();
        }
    }

    /// Writes the snapshot begun at `begin`: its items, then END once they
    /// are durable; then drops the segments before BEGIN. Returns the
    /// snapshot's bytes.
    fn write_snapshot(&self, begin: u128, items: SnapshotItems) -> Result<u64, StorageError> {
        let mut bytes = 0u64;
        let mut ops = Vec::new();
        let mut pending = 0usize;
        let flush = |ops: &mut Vec<Op>, bytes: &mut u64| -> Result<(), StorageError> {
            if ops.is_empty() {
                return Ok(());
            }
            let mut payload = Vec::with_capacity(SNAP_CHUNK_BYTES + 64);
            codec::put_u128(&mut payload, begin);
            payload.extend_from_slice(&encode_ops(ops));
            *bytes += payload.len() as u64 + 32;
            // Made durable with END below.
            drop(self.submit(J_SNAP_ITEM, &payload, false)?);
            ops.clear();
            Ok(())
        };
        for (db, key, value, expire_at) in items {
            match value {
                Value::Str(v) => {
                    // A large value goes in a record of its own, so that no
                    // record outgrows what a live one may hold.
                    if pending > 0 && pending + v.len() > SNAP_CHUNK_BYTES {
                        flush(&mut ops, &mut bytes)?;
                        pending = 0;
                    }
                    pending += key.len() + v.len();
                    ops.push(Op::Set {
                        db,
                        key,
                        value: v,
                        expire_at,
                    });
                }
                Value::List(l) => {
                    // A long list goes in pieces, each a push at the tail.
                    // A record ends before the item that would take it past
                    // the chunk size, so that a large item goes alone.
                    let mut chunk = Vec::new();
                    let mut chunk_bytes = 0;
                    for it in l {
                        let full = pending + chunk_bytes + it.len() + 8 > SNAP_CHUNK_BYTES;
                        if full && (pending > 0 || !chunk.is_empty()) {
                            if !chunk.is_empty() {
                                ops.push(Op::Push {
                                    db,
                                    key: key.clone(),
                                    tail: true,
                                    items: std::mem::take(&mut chunk),
                                });
                            }
                            flush(&mut ops, &mut bytes)?;
                            pending = 0;
                            chunk_bytes = 0;
                        }
                        chunk_bytes += it.len() + 8;
                        chunk.push(it);
                    }
                    if !chunk.is_empty() {
                        pending += chunk_bytes;
                        ops.push(Op::Push {
                            db,
                            key: key.clone(),
                            tail: true,
                            items: chunk,
                        });
                    }
                    if expire_at != 0 {
                        ops.push(Op::Expire {
                            db,
                            key,
                            at: expire_at,
                        });
                    }
                }
            }
            if pending >= SNAP_CHUNK_BYTES {
                flush(&mut ops, &mut bytes)?;
                pending = 0;
            }
        }
        flush(&mut ops, &mut bytes)?;
        self.log.sync()?;
        let mut end = Vec::new();
        codec::put_u128(&mut end, begin);
        let (_, commit) = self.submit(J_SNAP_END, &end, false)?;
        drop(commit);
        self.log.sync()?;
        self.log.retain_from(begin)?;
        Ok(bytes)
    }

    /// Calls `f` with every op the state is made of, in order: the last
    /// complete snapshot's, then the ops after its BEGIN; with no complete
    /// snapshot, every op from the start. A record that does not decode is
    /// an error naming its key. Returns the last record's key.
    pub(super) fn replay(
        log: &Log,
        mut f: impl FnMut(Op),
    ) -> Result<u128, super::super::error::EngineError> {
        let corrupt = |key| super::super::error::EngineError::Corrupt {
            file: log.dir().to_path_buf(),
            key,
        };
        // A snapshot record's BEGIN key, and where the rest starts.
        let snap_id =
            |payload: &[u8], key| -> Result<(u128, usize), super::super::error::EngineError> {
                let mut r = Reader::new(payload);
                let id = r.u128().map_err(|_| corrupt(key))?;
                Ok((id, r.offset()))
            };
        // The last complete snapshot.
        let mut last = 0;
        let mut begun = Vec::new();
        let mut from = None;
        for rec in log.iter_from(0)? {
            let rec = rec?;
            last = rec.key;
            match rec.kind {
                J_SNAP_BEGIN => begun.push(rec.key),
                J_SNAP_END => {
                    let (id, _) = snap_id(&rec.payload, rec.key)?;
                    if begun.contains(&id) {
                        from = Some(id);
                    }
                }
                _ => {}
            }
        }
        if let Some(begin) = from {
            for rec in log.iter_from(begin)? {
                let rec = rec?;
                if rec.kind != J_SNAP_ITEM {
                    continue;
                }
                let (id, at) = snap_id(&rec.payload, rec.key)?;
                if id != begin {
                    continue;
                }
                let ops = decode_ops(&rec.payload[at..]).map_err(|_| corrupt(rec.key))?;
                ops.into_iter().for_each(&mut f);
            }
        }
        for rec in log.iter_from(from.unwrap_or(0))? {
            let rec = rec?;
            match rec.kind {
                J_OPS => {
                    let ops = decode_ops(&rec.payload).map_err(|_| corrupt(rec.key))?;
                    ops.into_iter().for_each(&mut f);
                }
                J_SNAP_BEGIN | J_SNAP_ITEM | J_SNAP_END => {}
                _ => return Err(corrupt(rec.key)),
            }
        }
        Ok(last)
    }
}

/// The in-memory slot at `(db, key)`: `Ok(None)` when the key is missing,
/// WrongType when it holds a stream.
fn mem_slot(ks: &Keyspace, db: usize, key: &[u8]) -> Result<Option<Arc<Slot>>, Refused> {
    let m = ks.dbs.get(db).ok_or(Refused::DbIndex)?;
    match m.get(key) {
        None => Ok(None),
        Some(s) if s.kind == KeyType::Stream => Err(Refused::WrongType),
        Some(s) => Ok(Some(s.clone())),
    }
}

/// The list at `(db, key)`, if any; WrongType for another type.
fn list_slot(ks: &Keyspace, db: usize, key: &[u8]) -> Result<Option<Arc<Slot>>, Refused> {
    match mem_slot(ks, db, key)? {
        Some(s) if s.kind != KeyType::List => Err(Refused::WrongType),
        other => Ok(other),
    }
}

fn check_db(ks: &Keyspace, db: usize) -> Result<(), Refused> {
    if db < ks.dbs.len() {
        Ok(())
    } else {
        Err(Refused::DbIndex)
    }
}

/// Applies `op` to the keyspace. Live, the command has checked the types
/// already; at replay a refusal means the catalog gave the key to a stream.
pub(crate) fn apply(ks: &mut Keyspace, op: Op) -> Result<Outcome, Refused> {
    let mut out = Outcome::default();
    match op {
        Op::Set {
            db,
            key,
            value,
            expire_at,
        } => {
            check_db(ks, db)?;
            mem_slot(ks, db, &key)?;
            let slot = Slot::new_mem(Value::Str(own(&value)));
            slot.expire_at.store(expire_at, Ordering::Release);
            ks.remove(db, &key);
            ks.insert(db, key, slot);
        }
        Op::Del { db, key } => {
            if mem_slot(ks, db, &key)?.is_some() {
                ks.remove(db, &key);
            }
        }
        Op::Expire { db, key, at } => {
            if let Some(s) = mem_slot(ks, db, &key)? {
                s.expire_at.store(at, Ordering::Release);
            }
        }
        Op::Push {
            db,
            key,
            tail,
            items,
        } => {
            let slot = list_or_create(ks, db, key)?;
            out.n = with_list(&slot, |l| {
                for it in items {
                    let it = own(&it);
                    if tail {
                        l.push_back(it);
                    } else {
                        l.push_front(it);
                    }
                }
                l.len() as u64
            });
        }
        Op::Pop {
            db,
            key,
            tail,
            count,
        } => {
            shrink_list(ks, db, &key, |l| {
                for _ in 0..count {
                    let it = if tail { l.pop_back() } else { l.pop_front() };
                    match it {
                        Some(it) => out.items.push(it),
                        None => break,
                    }
                }
            })?;
        }
        Op::LSet {
            db,
            key,
            index,
            value,
        } => {
            if let Some(slot) = list_slot(ks, db, &key)? {
                with_list(&slot, |l| {
                    if let Some(it) = usize::try_from(index).ok().and_then(|i| l.get_mut(i)) {
                        *it = own(&value);
                    }
                });
            }
        }
        Op::LInsert {
            db,
            key,
            index,
            value,
        } => {
            if let Some(slot) = list_slot(ks, db, &key)? {
                out.n = with_list(&slot, |l| {
                    let at = usize::try_from(index).unwrap_or(usize::MAX).min(l.len());
                    l.insert(at, own(&value));
                    l.len() as u64
                });
            }
        }
        Op::LRem {
            db,
            key,
            count,
            value,
        } => {
            shrink_list(ks, db, &key, |l| out.n = lrem(l, count, &value))?;
        }
        Op::LTrim {
            db,
            key,
            start,
            end,
        } => {
            shrink_list(ks, db, &key, |l| {
                let end = end.min(l.len() as u64);
                let start = start.min(end);
                l.truncate(end as usize);
                l.drain(..start as usize);
            })?;
        }
        Op::LMove {
            db,
            src,
            dst,
            from_tail,
            to_tail,
        } => {
            list_slot(ks, db, &dst)?;
            let mut item = None;
            shrink_list(ks, db, &src, |l| {
                item = if from_tail {
                    l.pop_back()
                } else {
                    l.pop_front()
                };
            })?;
            let Some(item) = item else {
                return Ok(out);
            };
            let to = list_or_create(ks, db, dst)?;
            with_list(&to, |l| {
                if to_tail {
                    l.push_back(item.clone());
                } else {
                    l.push_front(item.clone());
                }
            });
            out.items.push(item);
        }
        Op::Rename { db, key, to } => {
            if let Some(slot) = mem_slot(ks, db, &key)? {
                mem_slot(ks, db, &to)?;
                ks.remove(db, &key);
                ks.remove(db, &to);
                ks.insert(db, to, slot);
            }
        }
        Op::MoveDb { db, key, to_db } => {
            check_db(ks, to_db)?;
            if let Some(slot) = mem_slot(ks, db, &key)? {
                if ks.dbs[to_db].contains_key(&key) {
                    return Err(Refused::WrongType);
                }
                ks.remove(db, &key);
                ks.insert(to_db, key, slot);
            }
        }
        Op::Copy {
            db,
            key,
            to_db,
            to_key,
        } => {
            check_db(ks, to_db)?;
            if let Some(slot) = mem_slot(ks, db, &key)? {
                mem_slot(ks, to_db, &to_key)?;
                let Some(value) = slot.value().clone() else {
                    return Ok(out);
                };
                let copy = Slot::new_mem(value);
                copy.expire_at
                    .store(slot.expire_at.load(Ordering::Acquire), Ordering::Release);
                ks.remove(to_db, &to_key);
                ks.insert(to_db, to_key, copy);
            }
        }
        Op::SwapDb { a, b } => {
            check_db(ks, a)?;
            check_db(ks, b)?;
            let take = |ks: &mut Keyspace, db: usize| -> Vec<(Bytes, Arc<Slot>)> {
                let keys: Vec<Bytes> = ks.dbs[db]
                    .iter()
                    .filter(|(_, s)| s.kind != KeyType::Stream)
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.into_iter()
                    .filter_map(|k| ks.remove(db, &k).map(|s| (k, s)))
                    .collect()
            };
            let from_a = take(ks, a);
            let from_b = take(ks, b);
            for (db, moved) in [(b, from_a), (a, from_b)] {
                for (k, s) in moved {
                    // A stream already there wins (see the module's notes).
                    if !ks.dbs[db].contains_key(&k) {
                        ks.insert(db, k, s);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The list at `(db, key)`, created empty when missing.
fn list_or_create(ks: &mut Keyspace, db: usize, key: Bytes) -> Result<Arc<Slot>, Refused> {
    if let Some(s) = list_slot(ks, db, &key)? {
        return Ok(s);
    }
    let s = Slot::new_mem(Value::List(VecDeque::new()));
    ks.insert(db, key, s.clone());
    Ok(s)
}

/// Calls `f` on the list at `(db, key)`, if any, and deletes the key when
/// `f` leaves the list empty (Redis keeps no empty list).
fn shrink_list(
    ks: &mut Keyspace,
    db: usize,
    key: &[u8],
    f: impl FnOnce(&mut VecDeque<Bytes>),
) -> Result<(), Refused> {
    if let Some(slot) = list_slot(ks, db, key)? {
        let empty = with_list(&slot, |l| {
            f(l);
            l.is_empty()
        });
        if empty {
            ks.remove(db, key);
        }
    }
    Ok(())
}

fn with_list<R>(slot: &Slot, f: impl FnOnce(&mut VecDeque<Bytes>) -> R) -> R {
    let mut v = slot.value();
    match v.as_mut() {
        Some(Value::List(l)) => f(l),
        // A list slot always holds a list.
        _ => f(&mut VecDeque::new()),
    }
}

/// LREM on `l`: returns how many were removed.
pub fn lrem(l: &mut VecDeque<Bytes>, count: i64, value: &[u8]) -> u64 {
    let max = if count == 0 {
        u64::MAX
    } else {
        count.unsigned_abs()
    };
    // One pass, whatever the number of matches.
    let mut removed = 0u64;
    let mut keep = |it: &Bytes| {
        if removed < max && it == value {
            removed += 1;
            false
        } else {
            true
        }
    };
    if count >= 0 {
        l.retain(|it| keep(it));
    } else {
        let mut kept: VecDeque<Bytes> = VecDeque::with_capacity(l.len());
        while let Some(it) = l.pop_back() {
            if keep(&it) {
                kept.push_front(it);
            }
        }
        *l = kept;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn push(key: &str, items: &[&str]) -> Op {
        Op::Push {
            db: 0,
            key: b(key),
            tail: true,
            items: items.iter().map(|i| b(i)).collect(),
        }
    }

    fn replayed(log: &Log) -> Vec<Op> {
        let mut ops = Vec::new();
        Journal::replay(log, |op| ops.push(op)).unwrap();
        ops
    }

    fn snapshot_record(j: &Journal, begin: u128, ops: &[Op]) {
        let mut p = Vec::new();
        codec::put_u128(&mut p, begin);
        p.extend_from_slice(&encode_ops(ops));
        drop(j.submit(J_SNAP_ITEM, &p, false).unwrap());
    }

    #[test]
    fn replay_starts_from_the_last_complete_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(
            Log::open(
                crate::storage::FsIo::shared(),
                dir.path(),
                Default::default(),
            )
            .unwrap(),
        );
        let j = Arc::new(Journal::new(log.clone(), 0));
        let set = Op::Set {
            db: 0,
            key: b("k"),
            value: b("v"),
            expire_at: 0,
        };
        let pop = Op::Pop {
            db: 0,
            key: b("l"),
            tail: false,
            count: 1,
        };
        drop(j.write(&[push("l", &["a", "b", "c"])]).unwrap());
        drop(j.write(std::slice::from_ref(&set)).unwrap());
        // No snapshot: every op.
        assert_eq!(replayed(&log), [push("l", &["a", "b", "c"]), set.clone()]);
        // A complete snapshot, with an op written between its records.
        let (b1, _) = j.submit(J_SNAP_BEGIN, &[], true).unwrap();
        snapshot_record(&j, b1, &[push("l", &["a", "b"])]);
        drop(j.write(std::slice::from_ref(&pop)).unwrap());
        snapshot_record(&j, b1, &[push("l", &["c"]), set.clone()]);
        let mut end = Vec::new();
        codec::put_u128(&mut end, b1);
        drop(j.submit(J_SNAP_END, &end, false).unwrap());
        // A snapshot cut short (a crash in the middle): ignored.
        let (b2, _) = j.submit(J_SNAP_BEGIN, &[], true).unwrap();
        snapshot_record(&j, b2, &[push("l", &["never"])]);
        drop(j.write(&[push("l", &["d"])]).unwrap());
        // The snapshot's items, then the ops after its BEGIN.
        let want = [
            push("l", &["a", "b"]),
            push("l", &["c"]),
            set.clone(),
            pop.clone(),
            push("l", &["d"]),
        ];
        assert_eq!(replayed(&log), want);
        // A compaction run for real ends the same way, and drops what
        // comes before its BEGIN.
        let items = vec![
            (0, b("l"), Value::List(["b", "c", "d"].map(b).into()), 0),
            (0, b("k"), Value::Str(b("v")), 7),
        ];
        assert!(j.compact(items).unwrap());
        j.wait_compaction();
        assert_eq!(j.compactions.load(Ordering::Relaxed), 1);
        drop(j.write(std::slice::from_ref(&pop)).unwrap());
        let set7 = Op::Set {
            db: 0,
            key: b("k"),
            value: b("v"),
            expire_at: 7,
        };
        assert_eq!(replayed(&log), [push("l", &["b", "c", "d"]), set7, pop]);
        assert!(log.first_key().unwrap() > b2);
    }

    #[test]
    fn ops_round_trip() {
        let ops = vec![
            Op::Set {
                db: 1,
                key: b("k"),
                value: b("v"),
                expire_at: 99,
            },
            Op::Del { db: 0, key: b("k") },
            Op::Expire {
                db: 0,
                key: b("k"),
                at: 5,
            },
            Op::Push {
                db: 0,
                key: b("l"),
                tail: true,
                items: vec![b("a"), b("b")],
            },
            Op::Pop {
                db: 0,
                key: b("l"),
                tail: false,
                count: 3,
            },
            Op::LSet {
                db: 0,
                key: b("l"),
                index: 2,
                value: b("x"),
            },
            Op::LInsert {
                db: 0,
                key: b("l"),
                index: 0,
                value: b("y"),
            },
            Op::LRem {
                db: 0,
                key: b("l"),
                count: -2,
                value: b("a"),
            },
            Op::LTrim {
                db: 0,
                key: b("l"),
                start: 1,
                end: 4,
            },
            Op::LMove {
                db: 3,
                src: b("s"),
                dst: b("d"),
                from_tail: true,
                to_tail: false,
            },
            Op::Rename {
                db: 0,
                key: b("a"),
                to: b("b"),
            },
            Op::MoveDb {
                db: 0,
                key: b("a"),
                to_db: 2,
            },
            Op::Copy {
                db: 0,
                key: b("a"),
                to_db: 1,
                to_key: b("c"),
            },
            Op::SwapDb { a: 0, b: 5 },
        ];
        let enc = encode_ops(&ops);
        assert_eq!(decode_ops(&enc).unwrap(), ops);
        for cut in 0..enc.len() {
            assert!(decode_ops(&enc[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn lrem_from_both_ends() {
        let mk = || VecDeque::from(vec![b("a"), b("b"), b("a"), b("c"), b("a")]);
        let mut l = mk();
        assert_eq!(lrem(&mut l, 2, b"a"), 2);
        assert_eq!(l, VecDeque::from(vec![b("b"), b("c"), b("a")]));
        let mut l = mk();
        assert_eq!(lrem(&mut l, -2, b"a"), 2);
        assert_eq!(l, VecDeque::from(vec![b("a"), b("b"), b("c")]));
        let mut l = mk();
        assert_eq!(lrem(&mut l, 0, b"a"), 3);
        assert_eq!(l, VecDeque::from(vec![b("b"), b("c")]));
    }
}
