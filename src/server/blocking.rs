//! Readers blocked in XREAD and XREADGROUP, served the way Redis serves
//! them: a write to a key runs the reads of the clients blocked on it, in
//! the order they blocked, in the writer's context. The first blocked
//! XREADGROUP `>` takes the new entries, the next one finds what is left,
//! so each entry goes to one consumer.
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

use super::shared::lock;
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
            BlockRead::Group { keys, .. } => keys.clone(),
        }
    }
}

/// What a served reader answers, with the commits to wait for first.
pub struct Served {
    /// The reply.
    pub frame: Frame,
    /// Commits of the read (XREADGROUP's PEL changes).
    pub commits: Vec<Commit>,
}

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
        self.count.load(Ordering::Relaxed)
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
        engine: &Engine,
        spec: BlockSpec,
    ) -> Result<Served, (Registration<'a>, oneshot::Receiver<Served>)> {
        let mut inner = lock(&self.inner);
        if let Some(s) = try_read(engine, &spec) {
            return Ok(s);
        }
        let id = inner.next;
        inner.next += 1;
        for k in spec.keys() {
            inner.by_key.entry((spec.db, k)).or_default().push_back(id);
        }
        let (tx, rx) = oneshot::channel();
        inner.waiters.insert(id, Waiter { spec, tx });
        self.count.fetch_add(1, Ordering::Relaxed);
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

    /// Serves the readers blocked on `key` after a write to it, in the
    /// order they blocked. Their replies also wait for `after`, the
    /// write's commits, so that no reader sees an entry before it is
    /// durable.
    pub fn serve(&self, engine: &Engine, db: usize, key: &[u8], after: &[Commit]) {
        if self.is_empty() {
            return;
        }
        let mut inner = lock(&self.inner);
        let ids: Vec<u64> = match inner.by_key.get(&(db, Bytes::copy_from_slice(key))) {
            Some(q) => q.iter().copied().collect(),
            None => return,
        };
        for id in ids {
            let Some(w) = inner.waiters.get(&id) else {
                continue;
            };
            if w.tx.is_closed() {
                Self::remove_locked(&mut inner, id, &self.count);
                continue;
            }
            if let Some(mut served) = try_read(engine, &w.spec) {
                served.commits.extend(after.iter().cloned());
                if let Some(w) = Self::remove_locked(&mut inner, id, &self.count) {
                    // A reader gone meanwhile drops the answer; its XREADGROUP
                    // entries stay pending, as with a client that dies after
                    // reading.
                    let _ = w.tx.send(served);
                }
            }
        }
    }
}

/// The read of a blocked XREAD after `after` on each key, or of an
/// XREADGROUP `>`, as a reply; `None` when nothing is there. Errors (the
/// group was destroyed, the key deleted or replaced) are answers too.
pub fn try_read(engine: &Engine, spec: &BlockSpec) -> Option<Served> {
    use super::cmd::reply;
    match &spec.read {
        BlockRead::Read { keys, count } => {
            let reqs: Vec<(Bytes, ReadFrom)> = keys
                .iter()
                .map(|(k, id)| (k.clone(), ReadFrom::After(*id)))
                .collect();
            match engine.read_streams(spec.db, &reqs, *count) {
                Ok(r) if r.streams.is_empty() => None,
                Ok(r) => Some(Served {
                    frame: reply::read_reply(r.streams, spec.resp3),
                    commits: Vec::new(),
                }),
                Err(e) => Some(Served {
                    frame: Frame::error(e.to_string()),
                    commits: Vec::new(),
                }),
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
                }),
                Err(e) => Some(Served {
                    frame: Frame::error(e.to_string()),
                    commits: Vec::new(),
                }),
            }
        }
    }
}
