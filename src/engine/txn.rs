//! Atomic appends to several streams: all of them or none, also across a
//! crash or a power cut.
//!
//! An append to several streams is a redo record in the engine's `txn` log
//! (fsync `always`): the stream of each entry, its ID and its fields. The
//! record is durable before any stream is written, so after a crash either
//! it is missing (and so is every entry: none was written) or it is there,
//! and opening the engine appends each of its entries that its stream lacks.
//! A stream lacks one exactly when its last record is below the entry's ID:
//! each stream log survives as a prefix, and the streams were locked from
//! before the IDs were chosen until the entries were written.
//!
//! Every [`CHECKPOINT_EVERY`] appends the streams written since the last
//! checkpoint are synced and a checkpoint record says which redo records
//! are no longer needed; older segments of the `txn` log are dropped.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::codec::{self, Malformed, Reader};
use super::id::{AddId, StreamId};
use super::keyspace::{Engine, KeyType, Slot, lock, now_ms};
use super::stream::{State, Stream, wait_all};
use crate::config::{FsyncPolicy, LogConfig};
use crate::error::EngineError;
use crate::storage::{Entry, Log, Store};

/// One entry of an atomic append to several streams.
#[derive(Debug, Clone, Copy)]
pub struct Append<'a> {
    /// The stream (created if missing).
    pub key: &'a [u8],
    /// The entry.
    pub fields: &'a [(Bytes, Bytes)],
    /// The top ID the stream must have before this entry (0-0 for a stream
    /// never written); for a key appended to twice, the second check sees
    /// the first entry.
    pub expected: Option<StreamId>,
}

pub(crate) const TXN_LOG: &str = "txn";
pub(crate) const KIND_TXN: u8 = 1;
pub(crate) const KIND_CHECKPOINT: u8 = 2;
/// Appends between checkpoints.
pub const CHECKPOINT_EVERY: u64 = 1024;

struct TxnState {
    next_key: u128,
    /// Redo records written whose entries are not all written yet (or
    /// failed to be: those wait for the redo at the next open).
    in_flight: BTreeSet<u128>,
    since_checkpoint: u64,
    /// Streams written since the last checkpoint.
    touched: Vec<Arc<Stream>>,
    checkpointing: bool,
}

/// The engine's redo log of atomic appends.
pub struct Txns {
    log: Arc<Log>,
    state: Mutex<TxnState>,
}

impl Txns {
    pub(super) fn open(store: &Store) -> Result<Txns, EngineError> {
        let cfg = LogConfig {
            fsync: FsyncPolicy::Always,
            segment_bytes: 16 << 20,
            ..LogConfig::default()
        };
        let log = store.log_with(TXN_LOG, cfg)?;
        let next_key = log.last_key().map_or(1, |k| k.saturating_add(1));
        Ok(Txns {
            log,
            state: Mutex::new(TxnState {
                next_key,
                in_flight: BTreeSet::new(),
                since_checkpoint: 0,
                touched: Vec::new(),
                checkpointing: false,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, TxnState> {
        lock(&self.state)
    }
}

/// One entry of a redo record: stream number, ID, fields.
type Item<'a> = (u64, StreamId, &'a [(Bytes, Bytes)]);

fn encode(items: &[Item<'_>]) -> Vec<u8> {
    let mut b = Vec::new();
    codec::put_u64(&mut b, items.len() as u64);
    for (sid, id, fields) in items {
        codec::put_u64(&mut b, *sid);
        codec::put_u64(&mut b, id.ms);
        codec::put_u64(&mut b, id.seq);
        codec::put_u64(&mut b, fields.len() as u64);
        for (f, v) in *fields {
            codec::put_bytes(&mut b, f);
            codec::put_bytes(&mut b, v);
        }
    }
    b
}

pub(crate) type Decoded = Vec<(u64, StreamId, Vec<(Bytes, Bytes)>)>;

pub(crate) fn decode(payload: Bytes) -> Result<Decoded, Malformed> {
    let max = payload.len();
    let mut r = Reader::new(payload);
    let n = r.len(max)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let sid = r.u64()?;
        let id = StreamId::new(r.u64()?, r.u64()?);
        let nf = r.len(max)?;
        let mut fields = Vec::with_capacity(nf);
        for _ in 0..nf {
            fields.push((r.bytes()?, r.bytes()?));
        }
        out.push((sid, id, fields));
    }
    if !r.is_empty() {
        return Err(Malformed);
    }
    Ok(out)
}

impl Engine {
    /// Appends one entry to each of several streams of `db`, all or none:
    /// if an expected top ID does not match ([`EngineError::Conflict`]) or
    /// a key holds another type, nothing is written; once the call has
    /// written anything, a crash cannot leave only some of the entries.
    /// Returns the IDs given, in the order of `appends`, once every entry
    /// is durable under its stream's policy.
    ///
    /// An I/O error (disk full, EIO) once the redo record was submitted is
    /// returned, and the redo at the next open completes the append if the
    /// record reached the disk: it is then whole, never partial.
    pub fn produce_all(
        &self,
        db: usize,
        appends: &[Append<'_>],
    ) -> Result<Vec<StreamId>, EngineError> {
        if appends.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let limits = self.node_limits();
        let mut ks = lock(&self.ks);
        self.check_db(&ks, db)?;
        // Distinct keys, and each append's index into them.
        let mut keys: Vec<&[u8]> = Vec::new();
        let which: Vec<usize> = appends
            .iter()
            .map(|a| match keys.iter().position(|k| *k == a.key) {
                Some(i) => i,
                None => {
                    keys.push(a.key);
                    keys.len() - 1
                }
            })
            .collect();
        let mut slots: Vec<Option<Arc<Slot>>> = Vec::with_capacity(keys.len());
        for k in &keys {
            self.reap(&mut ks, db, k)?;
            match ks.dbs[db].get(*k) {
                Some(s) if s.kind != KeyType::Stream => return Err(EngineError::WrongType),
                s => slots.push(s.cloned()),
            }
        }
        let mut existing: Vec<Option<Arc<Stream>>> = Vec::with_capacity(keys.len());
        for s in &slots {
            existing.push(match s {
                Some(s) => Some(self.open_stream(s)?),
                None => None,
            });
        }
        // Lock the streams in sid order, so two such appends never deadlock.
        let mut order: Vec<usize> = (0..keys.len()).filter(|&i| slots[i].is_some()).collect();
        order.sort_by_key(|&i| slots[i].as_ref().map_or(0, |s| s.sid));
        let mut guards: Vec<Option<MutexGuard<'_, State>>> =
            (0..keys.len()).map(|_| None).collect();
        for &i in &order {
            if let Some(s) = &existing[i] {
                guards[i] = Some(s.lock());
            }
        }
        // Choose every ID before writing anything.
        let mut tops: Vec<Option<StreamId>> = vec![None; keys.len()];
        let mut ids = Vec::with_capacity(appends.len());
        for (a, &k) in appends.iter().zip(&which) {
            let id = match (&guards[k], tops[k]) {
                (Some(st), None) => Stream::next_id(st, AddId::Auto, a.expected, now)?,
                (Some(st), Some(top)) => {
                    check_expected(a.expected, top)?;
                    Stream::id_after(st, top, AddId::Auto, now)?
                }
                (None, top) => {
                    let top = top.unwrap_or_default();
                    check_expected(a.expected, top)?;
                    AddId::Auto.resolve(top, now)?
                }
            };
            tops[k] = Some(id);
            ids.push(id);
        }
        // Create the missing keys; no one else can see them before the
        // keyspace lock is released, and by then they are locked.
        let mut created: Vec<(usize, Arc<Slot>, Arc<Stream>)> = Vec::new();
        for i in 0..keys.len() {
            if slots[i].is_none() {
                let slot = self.create_slot(&mut ks, db, keys[i])?;
                let st = self.open_stream(&slot)?;
                created.push((i, slot, st));
            }
        }
        for (i, slot, _) in &created {
            slots[*i] = Some(slot.clone());
        }
        let mut new_guards: Vec<(usize, MutexGuard<'_, State>)> =
            created.iter().map(|(i, _, st)| (*i, st.lock())).collect();
        drop(ks);
        let stream_of = |i: usize| -> Option<&Arc<Stream>> {
            existing[i]
                .as_ref()
                .or_else(|| created.iter().find(|c| c.0 == i).map(|c| &c.2))
        };
        // The redo record, durable before any stream is written.
        let items: Vec<Item<'_>> = appends
            .iter()
            .zip(&which)
            .zip(&ids)
            .map(|((a, &k), id)| (slots[k].as_ref().map_or(0, |s| s.sid), *id, a.fields))
            .collect();
        let payload = encode(&items);
        let (key, commit) = {
            let mut t = self.txn.lock();
            let key = t.next_key;
            let commit = self.txn.log.submit(&[Entry {
                kind: KIND_TXN,
                key,
                payload: &payload,
            }]);
            if commit.is_ok() {
                t.next_key = key.saturating_add(1);
                t.in_flight.insert(key);
            }
            (key, commit)
        };
        // On failure nothing was written to any stream; the redo record,
        // if it reached the disk anyway, is applied at the next open.
        commit?.wait()?;
        let mut commits = Vec::new();
        let mut failed = None;
        for ((a, &k), id) in appends.iter().zip(&which).zip(&ids) {
            let st = match guards[k].as_mut() {
                Some(g) => &mut **g,
                None => match new_guards.iter_mut().find(|g| g.0 == k) {
                    Some(g) => &mut *g.1,
                    None => continue,
                },
            };
            let Some(stream) = stream_of(k) else {
                continue;
            };
            if let Err(e) = stream.append_locked(st, *id, a.fields, limits, &mut commits) {
                failed = Some(e);
                break;
            }
        }
        drop(guards);
        drop(new_guards);
        if let Some(e) = failed {
            return Err(e);
        }
        wait_all(commits)?;
        {
            let mut t = self.txn.lock();
            t.in_flight.remove(&key);
            t.since_checkpoint += 1;
            for i in 0..keys.len() {
                if let Some(s) = stream_of(i) {
                    if !t.touched.iter().any(|x| Arc::ptr_eq(x, s)) {
                        t.touched.push(s.clone());
                    }
                }
            }
        }
        for k in &keys {
            self.watches.notify(db, k);
        }
        self.maybe_checkpoint()?;
        Ok(ids)
    }

    /// Writes a checkpoint once enough appends went by.
    fn maybe_checkpoint(&self) -> Result<(), EngineError> {
        let (covers, touched) = {
            let mut t = self.txn.lock();
            if t.checkpointing || t.since_checkpoint < CHECKPOINT_EVERY {
                return Ok(());
            }
            t.checkpointing = true;
            t.since_checkpoint = 0;
            let covers = t.in_flight.first().copied().unwrap_or(t.next_key);
            (covers, std::mem::take(&mut t.touched))
        };
        let r = self.checkpoint(covers, &touched);
        self.txn.lock().checkpointing = false;
        r
    }

    /// Syncs `touched`, then records that redo records below `covers` are
    /// applied and durable, and drops the segments holding only those.
    fn checkpoint(&self, covers: u128, touched: &[Arc<Stream>]) -> Result<(), EngineError> {
        for s in touched {
            s.sync()?;
        }
        let mut b = Vec::new();
        codec::put_u128(&mut b, covers);
        let commit = {
            let mut t = self.txn.lock();
            let key = t.next_key;
            let c = self.txn.log.submit_in_new_segment(&[Entry {
                kind: KIND_CHECKPOINT,
                key,
                payload: &b,
            }])?;
            t.next_key = key.saturating_add(1);
            c
        };
        commit.wait()?;
        self.txn.log.retain_from(covers)?;
        Ok(())
    }

    /// At open: appends the entries of redo records that their streams
    /// lack, then checkpoints.
    pub(super) fn redo_txns(&self) -> Result<(), EngineError> {
        let log = &self.txn.log;
        let corrupt = |key| EngineError::Corrupt {
            file: log.dir().to_path_buf(),
            key,
        };
        let mut covers = 0u128;
        for rec in log.iter_back_from(u128::MAX)? {
            let rec = rec?;
            if rec.kind == KIND_CHECKPOINT {
                covers = Reader::new(rec.payload)
                    .u128()
                    .map_err(|_| corrupt(rec.key))?;
                break;
            }
        }
        let by_sid: HashMap<u64, Arc<Slot>> = {
            let ks = lock(&self.ks);
            ks.dbs
                .iter()
                .flat_map(|d| d.values())
                .map(|s| (s.sid, s.clone()))
                .collect()
        };
        let limits = self.node_limits();
        let mut touched: Vec<Arc<Stream>> = Vec::new();
        let mut any = false;
        for rec in log.iter_from(covers)? {
            let rec = rec?;
            match rec.kind {
                KIND_CHECKPOINT => continue,
                KIND_TXN => {}
                _ => return Err(corrupt(rec.key)),
            }
            any = true;
            for (sid, id, fields) in decode(rec.payload).map_err(|_| corrupt(rec.key))? {
                // A stream deleted since needs nothing.
                let Some(slot) = by_sid.get(&sid) else {
                    continue;
                };
                let stream = self.open_stream(slot)?;
                let mut commits = Vec::new();
                {
                    let mut st = stream.lock();
                    if Stream::last_entry_of(&st).is_some_and(|last| last >= id) {
                        continue;
                    }
                    let id = Stream::next_id(&st, AddId::Explicit(id), None, 0)
                        .map_err(|_| corrupt(rec.key))?;
                    stream.append_locked(&mut st, id, &fields, limits, &mut commits)?;
                }
                wait_all(commits)?;
                if !touched.iter().any(|x| Arc::ptr_eq(x, &stream)) {
                    touched.push(stream);
                }
            }
        }
        if any {
            let next = self.txn.lock().next_key;
            self.checkpoint(next, &touched)?;
        }
        Ok(())
    }
}

fn check_expected(expected: Option<StreamId>, top: StreamId) -> Result<(), EngineError> {
    match expected {
        Some(e) if e != top => Err(EngineError::Conflict {
            expected: e,
            actual: top,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redo_record_round_trip_and_damage() {
        let f = vec![(Bytes::from_static(b"a"), Bytes::from_static(b"1"))];
        let items = vec![
            (3u64, StreamId::new(5, 1), &f[..]),
            (9u64, StreamId::new(5, 2), &[][..]),
        ];
        let b = encode(&items);
        let d = decode(Bytes::from(b.clone())).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].0, d[0].1, &d[0].2), (3, StreamId::new(5, 1), &f));
        assert_eq!((d[1].0, d[1].1, d[1].2.len()), (9, StreamId::new(5, 2), 0));
        for cut in 0..b.len() {
            assert!(decode(Bytes::copy_from_slice(&b[..cut])).is_err());
        }
    }
}
