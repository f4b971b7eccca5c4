//! Clients blocked in XREAD, XREADGROUP, BLPOP, BRPOP, BLMPOP, BLMOVE
//! and BRPOPLPUSH, served the way Redis serves them: after a command (or
//! a whole EXEC) that wrote to a key, the reads of the clients blocked on
//! it run, in the order they blocked, in the writer's context. The first
//! blocked XREADGROUP `>` or pop takes what is new, the next one finds
//! what is left, so each entry or item goes to one client. An item a
//! blocked BLMOVE pushes serves the clients blocked on its destination
//! in turn.
//!
//! A reader registers under the registry's lock after a last try of its
//! read, also under that lock; a writer serves after its append, under the
//! same lock. So a write lands either before the last try (which sees it)
//! or after the registration (which is served): no wake-up is lost.
//! Registrations are dropped when the reader times out, is unblocked, or
//! its connection goes away ([`Registration`] removes itself on drop).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;

use super::cmd::blpop::{pop_first, pop_reply};
use super::cmd::lmove::Move;
use super::events;
use super::shared::{Shared, lock};
use crate::engine::groups::GroupRead;
use crate::engine::id::StreamId;
use crate::engine::keyspace::Engine;
use crate::engine::read::ReadFrom;
use crate::resp::frame::Frame;
use crate::storage::Commit;

/// The read a blocked client retries.
#[derive(Debug, Clone)]
pub enum BlockRead {
    /// XREAD: every key after its ID.
    Read {
        /// Keys and the ID to read after.
        keys: Vec<(Bytes, StreamId)>,
        /// COUNT.
        count: Option<usize>,
    },
    /// XREADGROUP with `>` on every key.
    Group {
        /// Group.
        group: Bytes,
        /// Consumer.
        consumer: Bytes,
        /// Keys.
        keys: Vec<Bytes>,
        /// COUNT.
        count: Option<usize>,
        /// NOACK.
        noack: bool,
    },
    /// BLPOP, BRPOP, BLMPOP: a pop from the first non-empty list.
    Pop {
        /// Keys, in the order they are tried.
        keys: Vec<Bytes>,
        /// From the tail.
        tail: bool,
        /// Items to pop at most.
        count: u64,
        /// BLMPOP's reply (`[key, [items]]`).
        multi: bool,
    },
    /// BLMOVE, BRPOPLPUSH.
    Move(Move),
}

/// A blocking read that found nothing.
#[derive(Debug, Clone)]
pub struct BlockSpec {
    /// The database.
    pub db: usize,
    /// How long to wait; `None` waits for ever (BLOCK 0).
    pub timeout: Option<Duration>,
    /// The read.
    pub read: BlockRead,
    /// The reply uses RESP3 maps.
    pub resp3: bool,
}

impl BlockSpec {
    fn keys(&self) -> Vec<Bytes> {
        match &self.read {
            BlockRead::Read { keys, .. } => keys.iter().map(|(k, _)| k.clone()).collect(),
            BlockRead::Group { keys, .. } | BlockRead::Pop { keys, .. } => keys.clone(),
            BlockRead::Move(mv) => vec![mv.src.clone()],
        }
    }

    /// The reply when the wait ends with nothing (a timeout).
    pub fn nothing(&self) -> Frame {
        match self.read {
            BlockRead::Move(_) => Frame::Null,
            _ => Frame::NullArray,
        }
    }
}

/// What a served reader answers, with the commits to wait for first.
pub struct Served {
    /// The reply.
    pub frame: Frame,
    /// Commits of the read (XREADGROUP's PEL changes, a pop).
    pub commits: Vec<Commit>,
    /// A key the read wrote to (BLMOVE's destination).
    pub wrote: Option<Bytes>,
}

impl Served {
    fn reply(frame: Frame) -> Served {
        Served {
            frame,
            commits: Vec::new(),
            wrote: None,
        }
    }
}

/// A key written to, with the write's commits: what wakes its blocked
/// clients.
pub type Ready = (usize, Bytes, Vec<Commit>);

struct Waiter {
    spec: BlockSpec,
    tx: oneshot::Sender<Served>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
}

/// The registry of blocked readers.
#[derive(Default)]
pub struct Blocked {
    inner: Mutex<Inner>,
    count: AtomicUsize,
}

/// A reader's place in the registry; dropping it leaves the registry.
pub struct Registration<'a> {
    blocked: &'a Blocked,
    id: u64,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.blocked.remove(self.id);
    }
}

impl Blocked {
    /// Clients blocked now (INFO's `blocked_clients`).
    pub fn len(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// True when nobody is blocked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Tries the read once more under the registry's lock; when it still
    /// finds nothing, registers the reader. `Ok` is the read's answer,
    /// `Err` the registration and where the answer will arrive.
    pub fn block<'a>(
        &'a self,
        shared: &Shared,
        engine: &Engine,
        spec: BlockSpec,
    ) -> Result<Served, (Registration<'a>, oneshot::Receiver<Served>)> {
        let mut inner = lock(&self.inner);
        // Counted before the last try: a writer that finds the count at 0
        // skips the registry, so it must not be 0 once the try has looked
        // (the keyspace lock orders the try before the write).
        self.count.fetch_add(1, Ordering::SeqCst);
        if let Some(s) = try_read(shared, engine, &spec) {
            self.count.fetch_sub(1, Ordering::SeqCst);
            return Ok(s);
        }
        let id = inner.next;
        inner.next += 1;
        for k in spec.keys() {
            inner.by_key.entry((spec.db, k)).or_default().push_back(id);
        }
        let (tx, rx) = oneshot::channel();
        inner.waiters.insert(id, Waiter { spec, tx });
        Err((Registration { blocked: self, id }, rx))
    }

    fn remove(&self, id: u64) {
        let mut inner = lock(&self.inner);
        Self::remove_locked(&mut inner, id, &self.count);
    }

    fn remove_locked(inner: &mut Inner, id: u64, count: &AtomicUsize) -> Option<Waiter> {
        let w = inner.waiters.remove(&id)?;
        count.fetch_sub(1, Ordering::Relaxed);
        for k in w.spec.keys() {
            let key = (w.spec.db, k);
            if let Some(q) = inner.by_key.get_mut(&key) {
                q.retain(|&x| x != id);
                if q.is_empty() {
                    inner.by_key.remove(&key);
                }
            }
        }
        Some(w)
    }

    /// Serves the clients blocked on each key written to, in the order
    /// they blocked. Their replies also wait for the write's commits, so
    /// that nobody sees an entry or item before it is durable.
    pub fn serve(&self, shared: &Shared, engine: &Engine, ready: Vec<Ready>) {
        if self.is_empty() {
            return;
        }
        let mut inner = lock(&self.inner);
        let mut ready: VecDeque<Ready> = ready.into();
        while let Some((db, key, after)) = ready.pop_front() {
            let ids: Vec<u64> = match inner.by_key.get(&(db, key)) {
                Some(q) => q.iter().copied().collect(),
                None => continue,
            };
            for id in ids {
                let Some(w) = inner.waiters.get(&id) else {
                    continue;
                };
                if w.tx.is_closed() {
                    Self::remove_locked(&mut inner, id, &self.count);
                    continue;
                }
                let Some(mut served) = try_read(shared, engine, &w.spec) else {
                    continue;
                };
                if let Some(dst) = served.wrote.take() {
                    ready.push_back((db, dst, served.commits.clone()));
                }
                served.commits.extend(after.iter().cloned());
                if let Some(w) = Self::remove_locked(&mut inner, id, &self.count) {
                    // A client gone meanwhile drops the answer: its
                    // XREADGROUP entries stay pending, as with a client
                    // that dies after reading, and a popped item is lost
                    // as in Redis (BLMOVE keeps it in the destination).
                    let _ = w.tx.send(served);
                }
            }
        }
    }

    /// The keys of `db` that clients are blocked on (SWAPDB wakes them).
    pub fn keys_in(&self, db: usize) -> Vec<Bytes> {
        if self.is_empty() {
            return Vec::new();
        }
        let inner = lock(&self.inner);
        inner
            .by_key
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect()
    }
}

/// The read of a blocked XREAD after `after` on each key, or of an
/// XREADGROUP `>`, as a reply; `None` when nothing is there. Errors (the
/// group was destroyed, the key deleted or replaced) are answers too.
pub fn try_read(shared: &Shared, engine: &Engine, spec: &BlockSpec) -> Option<Served> {
    use super::cmd::reply;
    match &spec.read {
        BlockRead::Read { keys, count } => {
            let reqs: Vec<(Bytes, ReadFrom)> = keys
                .iter()
                .map(|(k, id)| (k.clone(), ReadFrom::After(*id)))
                .collect();
            match engine.read_streams(spec.db, &reqs, *count) {
                Ok(r) if r.streams.is_empty() => None,
                Ok(r) => Some(Served::reply(reply::read_reply(r.streams, spec.resp3))),
                Err(e) => Some(Served::reply(Frame::error(e.to_string()))),
            }
        }
        BlockRead::Group {
            group,
            consumer,
            keys,
            count,
            noack,
        } => {
            let reqs: Vec<(Bytes, GroupRead)> =
                keys.iter().map(|k| (k.clone(), GroupRead::New)).collect();
            let now = crate::engine::keyspace::now_ms();
            match engine.read_group_streams(spec.db, group, consumer, &reqs, *count, *noack, now) {
                Ok((r, _)) if r.is_empty() => None,
                Ok((r, commits)) => Some(Served {
                    frame: reply::group_reply(r, spec.resp3),
                    commits,
                    wrote: None,
                }),
                Err(e) => Some(Served::reply(Frame::error(e.to_string()))),
            }
        }
        BlockRead::Pop {
            keys,
            tail,
            count,
            multi,
        } => match pop_first(engine, spec.db, keys, *tail, *count) {
            Ok((None, _)) => None,
            Ok((Some((key, items)), commit)) => {
                let event = events::list_side(true, *tail);
                events::emit_list(shared, engine, event, spec.db, &key);
                Some(Served {
                    frame: pop_reply(key, items, *multi),
                    commits: commit.into_iter().collect(),
                    wrote: None,
                })
            }
            Err(e) => Some(Served::reply(Frame::error(e.to_string()))),
        },
        BlockRead::Move(mv) => match mv.apply(engine, spec.db) {
            Ok((None, _)) => None,
            Ok((Some(item), commit)) => {
                mv.notify(shared, engine, spec.db);
                Some(Served {
                    frame: Frame::Bulk(item),
                    commits: commit.into_iter().collect(),
                    wrote: Some(mv.dst.clone()),
                })
            }
            Err(e) => Some(Served::reply(Frame::error(e.to_string()))),
        },
    }
}
