//! One stream: an entries log (records keyed by entry ID, see
//! [`super::entry`]) and a metadata journal (see [`super::meta`]), with the
//! few numbers Redis reports kept in memory.
//!
//! Invariants (under the state lock):
//! - `meta.first` is the key of the first entry that is neither trimmed nor
//!   deleted, or above the last entry when the stream is empty; `deleted`
//!   holds only IDs above it.
//! - `length` = entries at or above `meta.first` minus `deleted`.
//! - RAM holds no entry: a stream of any length costs its deletion set, its
//!   groups' PELs and a few hundred bytes.
//!
//! Every change is written before it is applied: entries to the entries log,
//! everything else as an [`Op`] through [`Meta::apply`], the same function
//! replay uses. Callers wait for durability (the returned [`Commit`]s)
//! after the lock is released.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::entry::{self, FLAG_NODE_START, MAX_SHARED_RUN, StreamEntry, TailNode};
use super::id::{AddId, StreamId};
use super::meta::{self, KIND_SNAPSHOT, Meta, Op};
use crate::error::{EngineError, StorageError};
use crate::storage::{Commit, Entry, Log, Record};

/// Redis's node limits (`stream-node-max-entries`, `stream-node-max-bytes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLimits {
    /// Entries per node; 0 means no limit. Default 100.
    pub max_entries: u64,
    /// Bytes per node; 0 means no limit. Default 4096.
    pub max_bytes: u64,
}

impl Default for NodeLimits {
    fn default() -> Self {
        NodeLimits {
            max_entries: 100,
            max_bytes: 4096,
        }
    }
}

/// What a trim keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrimStrategy {
    /// MAXLEN: at most this many entries.
    MaxLen(u64),
    /// MINID: no entry below this ID.
    MinId(StreamId),
}

/// A trim request (XTRIM, or XADD's trimming arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trim {
    /// What to keep.
    pub strategy: TrimStrategy,
    /// `~`: remove only whole nodes.
    pub approx: bool,
    /// LIMIT: at most this many entries removed (approximate trims only);
    /// `None` takes Redis's default, 100 nodes' worth.
    pub limit: Option<u64>,
}

/// Numbers XINFO STREAM reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// Entries in the stream.
    pub length: u64,
    /// Top ID.
    pub last_generated_id: StreamId,
    /// Largest ID ever deleted.
    pub max_deleted_entry_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// First entry's ID (0-0 when empty).
    pub recorded_first_entry_id: StreamId,
    /// Number of groups.
    pub groups: u64,
}

pub(super) struct State {
    pub(super) meta: Meta,
    /// Last record in the entries log (deleted or not).
    last_entry: Option<StreamId>,
    /// Entries ever appended to the entries log (the last one's ordinal).
    appended: u64,
    pub(super) length: u64,
    tail: Option<TailNode>,
    /// Field names the next entry may share, and how many shared them.
    shared: Option<Vec<Bytes>>,
    shared_run: u32,
    journal_key: u128,
    journal_bytes: u64,
    snapshot_bytes: u64,
    buf: Vec<u8>,
    /// Nodes holding a live entry (XINFO's radix-tree-keys), once counted;
    /// forgotten by deletes and trims.
    nodes: Option<u64>,
}

/// An entry as [`Stream::range_each`] hands it over, borrowed from the
/// log's buffer for the length of the call.
pub struct EntryRef<'a> {
    /// The entry's ID.
    pub id: StreamId,
    /// Its field names.
    pub names: &'a [Bytes],
    /// Its record's payload.
    pub payload: &'a [u8],
    /// Where each value is in `payload`, in the order of `names`.
    pub values: &'a [std::ops::Range<usize>],
    /// The buffer `payload` lies in.
    buffer: &'a Bytes,
}

impl EntryRef<'_> {
    /// The value at `at` in the payload.
    pub fn value(&self, at: &std::ops::Range<usize>) -> &[u8] {
        self.payload.get(at.clone()).unwrap_or_default()
    }

    /// The value at `at` as a handle on the log's buffer, with no copy.
    pub fn value_bytes(&self, at: &std::ops::Range<usize>) -> Bytes {
        let v = self.value(at);
        let (lo, hi) = (
            self.buffer.as_ptr() as usize,
            self.buffer.as_ptr() as usize + self.buffer.len(),
        );
        let (vlo, vhi) = (v.as_ptr() as usize, v.as_ptr() as usize + v.len());
        if v.is_empty() || (lo <= vlo && vhi <= hi) {
            self.buffer.slice_ref(v)
        } else {
            // Not reached: the payload is always read from `buffer`.
            Bytes::copy_from_slice(v)
        }
    }
}

/// What [`Stream::range_each`] calls per entry.
pub type EntryVisitor<'a> = dyn FnMut(&EntryRef<'_>) + 'a;

/// What [`Stream::add_many`] did: each entry's ID or error, and the
/// commit of the write (`None` when every entry was refused).
pub type AddedMany = (Vec<Result<StreamId, EngineError>>, Option<Commit>);

/// The state an append changes, kept to undo appends whose write failed.
struct Mark {
    last_entry: Option<StreamId>,
    appended: u64,
    length: u64,
    tail: Option<TailNode>,
    shared: Option<Vec<Bytes>>,
    shared_run: u32,
    nodes: Option<u64>,
    /// The logical start, when an append to an empty stream may move it.
    first: Option<(u128, std::collections::BTreeSet<StreamId>)>,
}

impl Mark {
    fn of(st: &State) -> Mark {
        Mark {
            last_entry: st.last_entry,
            appended: st.appended,
            length: st.length,
            tail: st.tail.clone(),
            shared: st.shared.clone(),
            shared_run: st.shared_run,
            nodes: st.nodes,
            first: (st.length == 0).then(|| (st.meta.first, st.meta.deleted.clone())),
        }
    }

    fn restore(self, st: &mut State) {
        st.last_entry = self.last_entry;
        st.appended = self.appended;
        st.length = self.length;
        st.tail = self.tail;
        st.shared = self.shared;
        st.shared_run = self.shared_run;
        st.nodes = self.nodes;
        if let Some((first, deleted)) = self.first {
            st.meta.first = first;
            st.meta.deleted = deleted;
        }
    }
}

/// A stream of entries with its consumer groups.
pub struct Stream {
    pub(super) entries: Arc<Log>,
    journal: Arc<Log>,
    pub(super) state: Mutex<State>,
}

/// Journal size (bytes since the last snapshot) that never triggers a
/// compaction.
const JOURNAL_SLACK_BYTES: u64 = 64 << 10;

fn corrupt(log: &Log, key: u128) -> EngineError {
    EngineError::Corrupt {
        file: PathBuf::from(log.dir()),
        key,
    }
}

fn decode_entry(log: &Log, rec: &Record) -> Result<entry::Decoded, EngineError> {
    if !entry::is_entry_kind(rec.kind) {
        return Err(corrupt(log, rec.key));
    }
    entry::decode(rec.kind, rec.payload.clone()).map_err(|_| corrupt(log, rec.key))
}

/// Waits for every commit.
pub fn wait_all(commits: Vec<Commit>) -> Result<(), EngineError> {
    for c in commits {
        c.wait()?;
    }
    Ok(())
}

impl Stream {
    /// Opens a stream over its two logs, replaying the journal.
    pub fn open(entries: Arc<Log>, journal: Arc<Log>) -> Result<Stream, EngineError> {
        let last_entry = entries.last_key().map(StreamId::from_key);
        let dep_limit = last_entry.map_or(0, |id| id.key());
        // Find the last snapshot, then replay what follows it.
        let mut tail_ops: Vec<(u128, u8, Bytes)> = Vec::new();
        let mut journal_bytes = 0u64;
        let mut snapshot_bytes = 0u64;
        let mut it = journal.iter_back_from(u128::MAX)?;
        for rec in &mut it {
            let rec = rec?;
            let kind = rec.kind;
            let len = rec.payload.len() as u64;
            tail_ops.push((rec.key, rec.kind, rec.payload));
            if kind == KIND_SNAPSHOT {
                snapshot_bytes = len;
                break;
            }
            journal_bytes += len;
        }
        let journal_key = journal.last_key().unwrap_or(0);
        let mut m = Meta::default();
        let mut stale = false;
        for (key, kind, payload) in tail_ops.into_iter().rev() {
            let (dep, op) = Op::decode(kind, payload).map_err(|_| corrupt(&journal, key))?;
            if dep > dep_limit {
                // Written after entries that did not survive: it and what
                // follows describe a future that did not happen.
                stale = true;
                break;
            }
            m.apply(op);
        }
        let s = Stream {
            entries,
            journal,
            state: Mutex::new(State {
                meta: m,
                last_entry,
                appended: 0,
                length: 0,
                tail: None,
                shared: None,
                shared_run: 0,
                journal_key,
                journal_bytes,
                snapshot_bytes,
                buf: Vec::new(),
                nodes: None,
            }),
        };
        {
            let mut st = s.lock();
            s.recover_counts(&mut st)?;
            if stale {
                s.write_snapshot(&mut st)?;
            }
        }
        Ok(s)
    }

    /// Derives length, tail node and the encoder's state from the logs.
    fn recover_counts(&self, st: &mut State) -> Result<(), EngineError> {
        let Some(last) = st.last_entry else {
            return Ok(());
        };
        let last_rec = self
            .entries
            .last_le(last.key())?
            .ok_or_else(|| corrupt(&self.entries, last.key()))?;
        st.appended = decode_entry(&self.entries, &last_rec)?.ordinal;
        // Retention may have dropped segments below the logical start.
        let log_first = self.entries.first_key().unwrap_or(0);
        if log_first > st.meta.first {
            st.meta.set_first(log_first);
        }
        let first = self.next_live(st, st.meta.first, &[])?;
        st.meta.set_first(first);
        if let Some(first) = self.first_id(st) {
            let rec = self
                .entries
                .first_ge(first.key())?
                .ok_or_else(|| corrupt(&self.entries, first.key()))?;
            let ord = decode_entry(&self.entries, &rec)?.ordinal;
            let dead = st.meta.deleted.len() as u64;
            st.length = (st.appended + 1)
                .checked_sub(ord)
                .and_then(|n| n.checked_sub(dead))
                .ok_or_else(|| corrupt(&self.entries, rec.key))?;
        }
        // The tail node: back to the last node start, then forward.
        let mut start = None;
        for rec in self.entries.iter_back_from(last.key())? {
            let rec = rec?;
            start = Some(rec.key);
            if rec.kind & FLAG_NODE_START != 0 {
                break;
            }
        }
        let Some(start) = start else {
            return Ok(());
        };
        let mut shared = None;
        let mut tail: Option<TailNode> = None;
        for rec in self.entries.iter_from(start)? {
            let rec = rec?;
            let id = StreamId::from_key(rec.key);
            let d = decode_entry(&self.entries, &rec)?;
            let spelled = d.names.is_some();
            let e =
                entry::resolve(id, d, &mut shared).map_err(|_| corrupt(&self.entries, rec.key))?;
            let node = tail.get_or_insert_with(|| TailNode::new(id, &e.fields));
            node.push(id, &e.fields);
            if !self.is_live(st, id) {
                node.valid -= 1;
                node.deleted += 1;
            }
            st.shared_run = if spelled { 1 } else { st.shared_run + 1 };
        }
        if let Some(t) = &mut tail {
            t.removed = st.meta.removed_node == Some(t.start);
        }
        st.tail = tail;
        st.shared = shared;
        Ok(())
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_live(&self, st: &State, id: StreamId) -> bool {
        id.key() >= st.meta.first && !st.meta.deleted.contains(&id)
    }

    /// The first live entry's ID.
    fn first_id(&self, st: &State) -> Option<StreamId> {
        let last = st.last_entry?;
        (st.meta.first <= last.key()).then(|| StreamId::from_key(st.meta.first))
    }

    /// Key of the first live entry at or after `from`, counting `extra` as
    /// deleted too; past the last entry when there is none.
    fn next_live(&self, st: &State, from: u128, extra: &[StreamId]) -> Result<u128, EngineError> {
        let Some(last) = st.last_entry else {
            return Ok(from);
        };
        for rec in self.entries.iter_from(from)? {
            let id = StreamId::from_key(rec?.key);
            if !st.meta.deleted.contains(&id) && !extra.contains(&id) {
                return Ok(id.key());
            }
        }
        Ok(last.key().saturating_add(1))
    }

    fn dep(st: &State) -> u128 {
        st.last_entry.map_or(0, |id| id.key())
    }

    /// Writes an op to the journal, then applies it.
    pub(super) fn journal(
        &self,
        st: &mut State,
        op: Op,
        commits: &mut Vec<Commit>,
    ) -> Result<(), EngineError> {
        let dep = Self::dep(st);
        let mut buf = std::mem::take(&mut st.buf);
        let kind = op.encode_into(&mut buf, dep);
        let key = st.journal_key.saturating_add(1);
        let res = self.journal.submit(&[Entry {
            kind,
            key,
            payload: &buf,
        }]);
        let len = buf.len() as u64;
        st.buf = buf;
        commits.push(res?);
        // The op is replayed only if the entries up to `dep` survive: it
        // is acknowledged only once they are durable too.
        commits.push(self.entries.commit_written());
        st.journal_key = key;
        st.journal_bytes += len;
        st.meta.apply(op);
        if st.journal_bytes > JOURNAL_SLACK_BYTES.max(2 * st.snapshot_bytes) {
            self.write_snapshot(st)?;
        }
        Ok(())
    }

    /// Writes the whole metadata as a snapshot starting a new journal
    /// segment, and drops the segments before it.
    fn write_snapshot(&self, st: &mut State) -> Result<(), EngineError> {
        let dep = Self::dep(st);
        let mut buf = std::mem::take(&mut st.buf);
        let kind = meta::snapshot_into(&mut buf, dep, &st.meta);
        let key = st.journal_key.saturating_add(1);
        let res = self.journal.submit_in_new_segment(&[Entry {
            kind,
            key,
            payload: &buf,
        }]);
        st.snapshot_bytes = buf.len() as u64;
        st.buf = buf;
        // Waited for below by syncing, whatever the policy.
        drop(res?);
        st.journal_key = key;
        st.journal_bytes = 0;
        // The older segments go only once the snapshot is durable, whatever
        // the policy, and so are the entries it depends on: otherwise a
        // power cut could leave neither the old journal nor a snapshot that
        // replays.
        self.entries.sync()?;
        self.journal.sync()?;
        self.journal.retain_from(key)?;
        Ok(())
    }

    /// The stream's top ID (0-0 for a new stream).
    pub(super) fn last_id_of(st: &State) -> StreamId {
        st.last_entry.unwrap_or_default().max(st.meta.setid_last)
    }

    pub(super) fn entries_added_of(st: &State) -> u64 {
        st.appended.saturating_add_signed(st.meta.added_adjust)
    }

    /// Number of live entries.
    pub fn len(&self) -> u64 {
        self.lock().length
    }

    /// True when the stream has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The top ID (0-0 for a new stream).
    pub fn last_id(&self) -> StreamId {
        Self::last_id_of(&self.lock())
    }

    /// XINFO STREAM's numbers.
    pub fn info(&self) -> StreamInfo {
        self.info_locked(&self.lock())
    }

    pub(super) fn info_locked(&self, st: &State) -> StreamInfo {
        StreamInfo {
            length: st.length,
            last_generated_id: Self::last_id_of(st),
            max_deleted_entry_id: st.meta.max_deleted,
            entries_added: Self::entries_added_of(st),
            recorded_first_entry_id: if st.length == 0 {
                StreamId::MIN
            } else {
                self.first_id(st).unwrap_or_default()
            },
            groups: st.meta.groups.len() as u64,
        }
    }

    /// Redis's radix-tree-keys: nodes (runs of up to
    /// `stream-node-max-entries` entries) that hold a live entry. Counted by
    /// reading the stream's records the first time after a reopen, XDEL or
    /// trim; kept up to date by appends.
    pub fn node_count(&self) -> Result<u64, EngineError> {
        let mut st = self.lock();
        if let Some(n) = st.nodes {
            return Ok(n);
        }
        let mut count = 0u64;
        let mut open_live = false;
        let from = self.retain_point(&st)?;
        let mut it = self.entries.iter_from(from)?;
        it.visit(|r| {
            if r.kind & FLAG_NODE_START != 0 {
                count += u64::from(open_live);
                open_live = false;
            }
            let id = StreamId::from_key(r.key);
            open_live |= r.key >= st.meta.first && !st.meta.deleted.contains(&id);
            true
        })?;
        count += u64::from(open_live);
        st.nodes = Some(count);
        Ok(count)
    }

    /// XINFO STREAM's first-entry and last-entry.
    pub fn first_and_last(
        &self,
    ) -> Result<(Option<StreamEntry>, Option<StreamEntry>), EngineError> {
        let first = self.range(StreamId::MIN, StreamId::MAX, Some(1))?.pop();
        let last = self.rev_range(StreamId::MAX, StreamId::MIN, Some(1))?.pop();
        Ok((first, last))
    }

    /// XADD: appends an entry, then trims if asked. `expected` is the
    /// embedded API's optimistic check: the top ID the caller saw (0-0 for
    /// a new stream).
    pub fn add(
        &self,
        id: AddId,
        fields: &[(Bytes, Bytes)],
        trim: Option<Trim>,
        expected: Option<StreamId>,
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<(StreamId, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        let new_id = Self::next_id(&st, id, expected, now_ms)?;
        self.append_locked(&mut st, new_id, fields, limits, &mut commits)?;
        if let Some(t) = trim {
            self.trim_locked(&mut st, t, limits, &mut commits)?;
        }
        Ok((new_id, commits))
    }

    /// The ID an append of `id` gets, after the expected-top check.
    pub(super) fn next_id(
        st: &State,
        id: AddId,
        expected: Option<StreamId>,
        now_ms: u64,
    ) -> Result<StreamId, EngineError> {
        let top = Self::last_id_of(st);
        if let Some(e) = expected {
            if e != top {
                return Err(EngineError::Conflict {
                    expected: e,
                    actual: top,
                });
            }
        }
        Self::id_after(st, top, id, now_ms)
    }

    /// The ID `id` resolves to when the stream's top is `top` (which is at
    /// least the stream's own top).
    pub(super) fn id_after(
        st: &State,
        top: StreamId,
        id: AddId,
        now_ms: u64,
    ) -> Result<StreamId, EngineError> {
        let mut new_id = id.resolve(top, now_ms)?;
        if let Some(last) = st.last_entry {
            // XSETID may have set the top below a deleted entry still in the
            // log; generated IDs step over it (explicit ones are refused).
            if new_id <= last {
                match id {
                    AddId::Auto => new_id = last.next().ok_or(EngineError::IdExhausted)?,
                    _ => return Err(EngineError::IdTooSmall),
                }
            }
        }
        Ok(new_id)
    }

    /// Appends one entry under the stream's lock: encoded, written, then
    /// applied to the state, so a failed write changes nothing.
    pub(super) fn append_locked(
        &self,
        st: &mut State,
        new_id: StreamId,
        fields: &[(Bytes, Bytes)],
        limits: NodeLimits,
        commits: &mut Vec<Commit>,
    ) -> Result<(), EngineError> {
        let mut buf = std::mem::take(&mut st.buf);
        buf.clear();
        let (kind, node_start) = Self::encode_next(st, fields, limits, &mut buf);
        let res = self.entries.submit(&[Entry {
            kind,
            key: new_id.key(),
            payload: &buf,
        }]);
        st.buf = buf;
        commits.push(res?);
        Self::apply_appended(st, new_id, fields, kind, node_start);
        Ok(())
    }

    /// Appends to `buf` the encoding of an entry that follows the state's
    /// last one; returns its kind and whether it starts a node. The state
    /// is not changed.
    fn encode_next(
        st: &State,
        fields: &[(Bytes, Bytes)],
        limits: NodeLimits,
        buf: &mut Vec<u8>,
    ) -> (u8, bool) {
        let node_start = st
            .tail
            .as_ref()
            .is_none_or(|t| t.is_full(fields, limits.max_entries, limits.max_bytes));
        let ordinal = st.appended.saturating_add(1);
        let shared = if st.shared_run < MAX_SHARED_RUN {
            st.shared.as_deref()
        } else {
            None
        };
        let kind = entry::encode_into(buf, ordinal, node_start, shared, fields);
        (kind, node_start)
    }

    /// Applies an entry encoded by [`Self::encode_next`] to the state.
    fn apply_appended(
        st: &mut State,
        new_id: StreamId,
        fields: &[(Bytes, Bytes)],
        kind: u8,
        node_start: bool,
    ) {
        let was_empty = st.length == 0;
        st.last_entry = Some(new_id);
        st.appended = st.appended.saturating_add(1);
        st.length += 1;
        if kind & entry::FLAG_SAME_FIELDS != 0 {
            st.shared_run += 1;
        } else {
            st.shared = Some(fields.iter().map(|(f, _)| f.clone()).collect());
            st.shared_run = 1;
        }
        if node_start {
            st.tail = Some(TailNode::new(new_id, fields));
            if let Some(n) = st.nodes.as_mut() {
                *n += 1;
            }
        }
        if let Some(t) = st.tail.as_mut() {
            t.push(new_id, fields);
        }
        if was_empty {
            st.meta.set_first(new_id.key());
        }
    }

    /// XADD of several entries (a client's pipeline): every ID is worked
    /// out and every entry encoded under one lock, then all are written
    /// with one write. An entry whose ID is refused gets its error and the
    /// others go on; a failed write fails them all and changes nothing.
    pub fn add_many(
        &self,
        items: &[(AddId, &[(Bytes, Bytes)])],
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<AddedMany, EngineError> {
        let mut st = self.lock();
        let mark = Mark::of(&st);
        let mut buf = Vec::new();
        let mut spans = Vec::with_capacity(items.len());
        let mut out = Vec::with_capacity(items.len());
        for (id, fields) in items {
            match Self::next_id(&st, *id, None, now_ms) {
                Ok(new_id) => {
                    let at = buf.len();
                    let (kind, node_start) = Self::encode_next(&st, fields, limits, &mut buf);
                    Self::apply_appended(&mut st, new_id, fields, kind, node_start);
                    spans.push((kind, new_id.key(), at..buf.len()));
                    out.push(Ok(new_id));
                }
                Err(e) => out.push(Err(e)),
            }
        }
        if spans.is_empty() {
            return Ok((out, None));
        }
        let entries: Vec<Entry> = spans
            .iter()
            .map(|(kind, key, r)| Entry {
                kind: *kind,
                key: *key,
                payload: &buf[r.clone()],
            })
            .collect();
        match self.entries.submit(&entries) {
            Ok(c) => Ok((out, Some(c))),
            Err(e) => {
                mark.restore(&mut st);
                Err(e.into())
            }
        }
    }

    /// The last entry in the entries log, live or not (what a redo of an
    /// atomic multi-stream append compares with).
    pub(super) fn last_entry_of(st: &State) -> Option<StreamId> {
        st.last_entry
    }

    /// XTRIM; returns how many entries were removed.
    pub fn trim(&self, t: Trim, limits: NodeLimits) -> Result<(u64, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        let n = self.trim_locked(&mut st, t, limits, &mut commits)?;
        Ok((n, commits))
    }

    fn trim_locked(
        &self,
        st: &mut State,
        t: Trim,
        limits: NodeLimits,
        commits: &mut Vec<Commit>,
    ) -> Result<u64, EngineError> {
        let limit = match (t.approx, t.limit) {
            (false, _) => 0,
            (true, Some(l)) => l,
            (true, None) => {
                let l = 100u64.saturating_mul(limits.max_entries);
                if l == 0 || l > 1_000_000 {
                    1_000_000
                } else {
                    l
                }
            }
        };
        let Some(first) = self.first_id(st) else {
            return Ok(0);
        };
        if let TrimStrategy::MaxLen(n) = t.strategy {
            if st.length <= n {
                return Ok(0);
            }
        }
        // Start at the node holding the first live entry.
        let mut node_start = first.key();
        for rec in self.entries.iter_back_from(first.key())? {
            let rec = rec?;
            node_start = rec.key;
            if rec.kind & FLAG_NODE_START != 0 {
                break;
            }
        }
        let mut it = self.entries.iter_from(node_start)?.peekable();
        let mut removed = 0u64;
        let mut new_first: Option<u128> = None;
        let mut removed_node = None;
        let mut tail_marked = 0u64;
        loop {
            if let TrimStrategy::MaxLen(n) = t.strategy {
                if st.length <= n {
                    break;
                }
            }
            // One node: its first record and those up to the next start.
            let Some(first_rec) = it.next().transpose()? else {
                break;
            };
            let mut node: Vec<(StreamId, bool)> = Vec::new();
            let start_id = StreamId::from_key(first_rec.key);
            node.push((start_id, self.is_live(st, start_id)));
            while let Some(Ok(next)) = it.peek() {
                if next.kind & FLAG_NODE_START != 0 {
                    break;
                }
                let id = StreamId::from_key(next.key);
                node.push((id, self.is_live(st, id)));
                it.next();
            }
            if let Some(Err(_)) = it.peek() {
                it.next().transpose()?;
            }
            let valid = node.iter().filter(|(_, l)| *l).count() as u64;
            let node_last = node.last().map_or(start_id, |(id, _)| *id);
            if limit != 0 && removed + valid > limit {
                break;
            }
            let whole = match t.strategy {
                TrimStrategy::MaxLen(n) => st.length.saturating_sub(valid) >= n,
                TrimStrategy::MinId(min) => node_last < min,
            };
            let is_tail = st.tail.as_ref().is_some_and(|tn| tn.start == start_id);
            if whole {
                st.length = st.length.saturating_sub(valid);
                removed += valid;
                new_first = Some(node_last.key().saturating_add(1));
                if is_tail {
                    removed_node = Some(start_id);
                }
                continue;
            }
            if t.approx {
                break;
            }
            for (id, live) in node {
                let stop = match t.strategy {
                    TrimStrategy::MaxLen(n) => st.length <= n,
                    TrimStrategy::MinId(min) => id >= min,
                };
                if stop {
                    break;
                }
                if live {
                    st.length = st.length.saturating_sub(1);
                    removed += 1;
                    new_first = Some(id.key().saturating_add(1));
                    if is_tail {
                        tail_marked += 1;
                    }
                }
            }
            break;
        }
        let Some(nf) = new_first else {
            return Ok(0);
        };
        st.nodes = None;
        // Journal the new logical start (moved on to the next live entry).
        let target = self.next_live(st, nf, &[])?;
        self.journal(
            st,
            Op::Trim {
                first: target,
                removed_node,
            },
            commits,
        )?;
        if let Some(tn) = st.tail.as_mut() {
            if removed_node == Some(tn.start) {
                tn.removed = true;
            } else {
                tn.valid -= tail_marked.min(tn.valid);
                tn.deleted += tail_marked;
            }
        }
        // Working out the key reads records back; skip it (a trimming XADD
        // is a hot path) when no segment could go anyway.
        let from = st.meta.first.min(Self::dep(st));
        if self.entries.second_base().is_some_and(|b| b <= from) {
            let keep = self.retain_point(st)?;
            self.entries.retain_from(keep)?;
        }
        Ok(removed)
    }

    /// The key from which the entries log must be kept: the first live
    /// entry's, or earlier, the record spelling the field names it shares
    /// and the start of its node (for `~` trims to see whole nodes).
    fn retain_point(&self, st: &State) -> Result<u128, EngineError> {
        let from = st.meta.first.min(Self::dep(st));
        let mut keep = from;
        let (mut spelled, mut node) = (false, false);
        // A node spans at most a few thousand records unless its limits
        // are 0; beyond this many, only the names matter.
        for (i, rec) in self.entries.iter_back_from(from)?.enumerate() {
            let rec = rec?;
            if i >= 4096 && spelled {
                break;
            }
            keep = rec.key;
            spelled |= rec.kind & entry::FLAG_SAME_FIELDS == 0;
            node |= rec.kind & FLAG_NODE_START != 0;
            if spelled && node {
                break;
            }
        }
        Ok(keep)
    }

    /// Retention: trims whole segments of entries older than `max_age_ms`
    /// (by entry ID, against `now_ms`) or beyond `max_bytes` of segments,
    /// oldest first. The active segment is never removed. Returns how many
    /// entries were removed.
    pub fn apply_retention(
        &self,
        max_age_ms: Option<u64>,
        max_bytes: Option<u64>,
        now_ms: u64,
        limits: NodeLimits,
    ) -> Result<(u64, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        let segs = self.entries.segments()?;
        // Keep from the base of the first segment that must stay.
        let mut keep_from = 0u128;
        if let Some(age) = max_age_ms {
            let cutoff = StreamId {
                ms: now_ms.saturating_sub(age),
                seq: 0,
            }
            .key();
            // Segment i holds keys below segment i+1's base.
            for next in segs.iter().skip(1) {
                if next.0 <= cutoff {
                    keep_from = keep_from.max(next.0);
                }
            }
        }
        if let Some(max) = max_bytes {
            let mut total: u64 = segs.iter().map(|s| s.1).sum();
            for w in segs.windows(2) {
                if total <= max {
                    break;
                }
                total -= w[0].1;
                keep_from = keep_from.max(w[1].0);
            }
        }
        if keep_from <= st.meta.first {
            return Ok((0, commits));
        }
        let t = Trim {
            strategy: TrimStrategy::MinId(StreamId::from_key(keep_from)),
            approx: false,
            limit: None,
        };
        let n = self.trim_locked(&mut st, t, limits, &mut commits)?;
        Ok((n, commits))
    }

    /// Changes the fsync policy of both logs and the entries' segment size.
    pub fn set_log_settings(&self, fsync: crate::config::FsyncPolicy, segment_bytes: u64) {
        self.entries.set_policy(fsync);
        self.entries.set_segment_bytes(segment_bytes);
        self.journal.set_policy(fsync);
    }

    /// The fsync policy of the stream's logs.
    pub fn policy(&self) -> crate::config::FsyncPolicy {
        self.entries.policy()
    }

    /// Number of segments of the entries log.
    pub fn segments(&self) -> Result<usize, EngineError> {
        Ok(self.entries.segments()?.len())
    }

    /// XDEL; returns how many of `ids` existed and were deleted.
    pub fn delete(&self, ids: &[StreamId]) -> Result<(u64, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        let mut gone: Vec<StreamId> = Vec::new();
        for &id in ids {
            if !self.is_live(&st, id) || gone.contains(&id) {
                continue;
            }
            match self.entries.first_ge(id.key())? {
                Some(rec) if rec.key == id.key() => gone.push(id),
                _ => {}
            }
        }
        if gone.is_empty() {
            return Ok((0, commits));
        }
        // Work out the new logical start and the tail node's fate on a
        // copy, journal it, then apply.
        let mut removed_node = None;
        let mut tail_hits = 0u64;
        if let Some(tn) = &st.tail {
            tail_hits = gone.iter().filter(|id| **id >= tn.start).count() as u64;
            if !tn.removed && tail_hits > 0 && tail_hits >= tn.valid {
                removed_node = Some(tn.start);
            }
        }
        let first_now = self.first_id(&st);
        let mut first = st.meta.first;
        if first_now.is_some_and(|f| gone.contains(&f)) {
            first = self.next_live(&st, first, &gone)?;
        }
        let n = gone.len() as u64;
        st.nodes = None;
        self.journal(
            &mut st,
            Op::Delete {
                ids: gone,
                first,
                removed_node,
            },
            &mut commits,
        )?;
        st.length = st.length.saturating_sub(n);
        if let Some(tn) = st.tail.as_mut() {
            tn.valid -= tail_hits.min(tn.valid);
            tn.deleted += tail_hits;
            if removed_node == Some(tn.start) {
                tn.removed = true;
            }
        }
        Ok((n, commits))
    }

    /// XSETID.
    pub fn set_id(
        &self,
        last: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) -> Result<Vec<Commit>, EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        if max_deleted.is_some_and(|d| last < d) {
            return Err(EngineError::SetIdBelowMaxDeleted);
        }
        if st.length > 0 {
            let top = self.last_live(&st)?;
            if top.is_some_and(|t| last < t) {
                return Err(EngineError::SetIdTooSmall);
            }
            if entries_added.is_some_and(|a| a < st.length) {
                return Err(EngineError::SetIdAddedTooSmall);
            }
        }
        let added_adjust = match entries_added {
            Some(a) => (i128::from(a) - i128::from(st.appended))
                .try_into()
                .map_err(|_| EngineError::SetIdAddedTooSmall)?,
            None => st.meta.added_adjust,
        };
        let op = Op::SetId {
            last,
            added_adjust,
            max_deleted: max_deleted.unwrap_or(st.meta.max_deleted),
        };
        self.journal(&mut st, op, &mut commits)?;
        Ok(commits)
    }

    /// The last live entry's ID.
    fn last_live(&self, st: &State) -> Result<Option<StreamId>, EngineError> {
        if st.length == 0 {
            return Ok(None);
        }
        let Some(last) = st.last_entry else {
            return Ok(None);
        };
        for rec in self.entries.iter_back_from(last.key())? {
            let id = StreamId::from_key(rec?.key);
            if self.is_live(st, id) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// XRANGE: live entries in `[start, end]`, at most `count`.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        count: Option<usize>,
    ) -> Result<Vec<StreamEntry>, EngineError> {
        let st = self.lock();
        self.range_locked(&st, start, end, count)
    }

    pub(super) fn range_locked(
        &self,
        st: &State,
        start: StreamId,
        end: StreamId,
        count: Option<usize>,
    ) -> Result<Vec<StreamEntry>, EngineError> {
        let mut out = Vec::new();
        self.range_each_locked(st, start, end, count, &mut |e| {
            let fields = e
                .names
                .iter()
                .cloned()
                .zip(e.values.iter().map(|r| e.value_bytes(r)))
                .collect();
            out.push(StreamEntry { id: e.id, fields });
        })?;
        Ok(out)
    }

    /// XRANGE without building entries: `f` gets each live entry in
    /// `[start, end]` in order, at most `count`: its ID, its field names,
    /// and its record's payload with where each value is in it. Returns
    /// how many entries it got.
    pub fn range_each(
        &self,
        start: StreamId,
        end: StreamId,
        count: Option<usize>,
        f: &mut EntryVisitor,
    ) -> Result<usize, EngineError> {
        let st = self.lock();
        self.range_each_locked(&st, start, end, count, f)
    }

    fn range_each_locked(
        &self,
        st: &State,
        start: StreamId,
        end: StreamId,
        count: Option<usize>,
        f: &mut EntryVisitor,
    ) -> Result<usize, EngineError> {
        let max = count.unwrap_or(usize::MAX);
        if start > end || max == 0 {
            return Ok(0);
        }
        let from = start.key().max(st.meta.first);
        let mut it = self.entries.iter_from(from)?;
        let mut names: Option<Vec<Bytes>> = None;
        let mut values = Vec::new();
        let mut n = 0;
        let mut failed = None;
        it.visit_in(|rec, buffer| {
            let id = StreamId::from_key(rec.key);
            if id > end {
                return false;
            }
            let live = self.is_live(st, id);
            let same = rec.kind & entry::FLAG_SAME_FIELDS != 0;
            if !live && same {
                // Deleted, and it changes no shared names: not decoded.
                return true;
            }
            if !entry::is_entry_kind(rec.kind) {
                failed = Some(corrupt(&self.entries, rec.key));
                return false;
            }
            if same && names.is_none() {
                // The first record read shares the names of the nearest
                // earlier record that spells them: read just that one.
                match self.names_before(rec.key) {
                    Ok(spelled) => names = spelled,
                    Err(e) => {
                        failed = Some(e);
                        return false;
                    }
                }
            }
            if entry::decode_ranges(rec.kind, rec.payload, &mut names, &mut values).is_err() {
                failed = Some(corrupt(&self.entries, rec.key));
                return false;
            }
            if !live {
                return true;
            }
            f(&EntryRef {
                id,
                names: names.as_deref().unwrap_or(&[]),
                payload: rec.payload,
                values: &values,
                buffer,
            });
            n += 1;
            n < max
        })?;
        match failed {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    /// The field names spelled by the nearest record before `key` that
    /// spells them.
    fn names_before(&self, key: u128) -> Result<Option<Vec<Bytes>>, EngineError> {
        for rec in self.entries.iter_back_from(key.saturating_sub(1))? {
            let rec = rec?;
            if rec.kind & entry::FLAG_SAME_FIELDS == 0 {
                return Ok(decode_entry(&self.entries, &rec)?.names);
            }
        }
        Ok(None)
    }

    /// XREVRANGE: live entries in `[start, end]` from the top, at most
    /// `count`.
    pub fn rev_range(
        &self,
        end: StreamId,
        start: StreamId,
        count: Option<usize>,
    ) -> Result<Vec<StreamEntry>, EngineError> {
        let st = self.lock();
        let mut out = Vec::new();
        let max = count.unwrap_or(usize::MAX);
        if start > end || max == 0 {
            return Ok(out);
        }
        let lo = start.key().max(st.meta.first);
        // Records come newest first; a run of shared records is decoded
        // once the record spelling their names is reached.
        let mut run: Vec<Record> = Vec::new();
        for rec in self.entries.iter_back_from(end.key())? {
            let rec = rec?;
            let spelled = rec.kind & entry::FLAG_SAME_FIELDS == 0;
            let below = rec.key < lo;
            if below && run.is_empty() {
                break;
            }
            run.push(rec);
            if !spelled {
                continue;
            }
            let mut shared = None;
            let mut decoded = Vec::with_capacity(run.len());
            for rec in run.drain(..).rev() {
                let id = StreamId::from_key(rec.key);
                let d = decode_entry(&self.entries, &rec)?;
                let e = entry::resolve(id, d, &mut shared)
                    .map_err(|_| corrupt(&self.entries, rec.key))?;
                decoded.push(e);
            }
            for e in decoded.into_iter().rev() {
                if e.id.key() >= lo && self.is_live(&st, e.id) {
                    out.push(e);
                    if out.len() >= max {
                        return Ok(out);
                    }
                }
            }
            if below {
                break;
            }
        }
        if !run.is_empty() {
            // Shared records with no spelled record before them.
            return Err(corrupt(&self.entries, run[run.len() - 1].key));
        }
        Ok(out)
    }

    /// Entries after `after`, at most `count` (XREAD).
    pub fn read_after(
        &self,
        after: StreamId,
        count: Option<usize>,
    ) -> Result<Vec<StreamEntry>, EngineError> {
        match after.next() {
            Some(start) => self.range(start, StreamId::MAX, count),
            None => Ok(Vec::new()),
        }
    }

    /// Syncs both logs, whatever their policy.
    pub fn sync(&self) -> Result<(), EngineError> {
        self.entries.sync()?;
        self.journal.sync()?;
        Ok(())
    }

    /// The entries log and the journal (COPY reads them).
    pub(super) fn logs(&self) -> (&Arc<Log>, &Arc<Log>) {
        (&self.entries, &self.journal)
    }

    /// Bytes of torn or corrupt tails cut off when the two logs opened.
    pub fn torn_bytes(&self) -> u64 {
        self.entries.recovery().torn_bytes + self.journal.recovery().torn_bytes
    }

    /// Bytes on disk of both logs.
    pub fn disk_bytes(&self) -> Result<u64, StorageError> {
        Ok(self.entries.disk_bytes()? + self.journal.disk_bytes()?)
    }
}
