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
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::codec::{self, Malformed, Reader};
use super::keyspace::{KeyType, Keyspace, Slot};
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
const J_OPS: u8 = 1;

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

/// The journal: where ops go before they are applied.
pub struct Journal {
    pub(super) log: Arc<Log>,
}

impl Journal {
    /// Writes one record holding `ops` with `key`; returns its commit.
    pub(super) fn write(
        &self,
        key: u128,
        ops: &[Op],
    ) -> Result<Commit, crate::error::StorageError> {
        let payload = encode_ops(ops);
        self.log.submit(&[Entry {
            kind: J_OPS,
            key,
            payload: &payload,
        }])
    }

    /// Calls `f` with every op of the journal, in order. A record that does
    /// not decode is an error naming its key.
    pub(super) fn replay(
        &self,
        mut f: impl FnMut(Op),
    ) -> Result<u128, super::super::error::EngineError> {
        let mut last = 0;
        for rec in self.log.iter_from(0)? {
            let rec = rec?;
            last = rec.key;
            let ops = match rec.kind {
                J_OPS => decode_ops(&rec.payload).ok(),
                _ => None,
            };
            let Some(ops) = ops else {
                return Err(super::super::error::EngineError::Corrupt {
                    file: self.log.dir().to_path_buf(),
                    key: rec.key,
                });
            };
            ops.into_iter().for_each(&mut f);
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
            let slot = Slot::new_mem(Value::Str(value));
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
                        *it = value;
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
                    l.insert(at, value);
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
    let mut removed = 0u64;
    if count >= 0 {
        let mut i = 0;
        while i < l.len() && removed < max {
            if l[i] == value {
                l.remove(i);
                removed += 1;
            } else {
                i += 1;
            }
        }
    } else {
        let mut i = l.len();
        while i > 0 && removed < max {
            i -= 1;
            if l[i] == value {
                l.remove(i);
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
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
