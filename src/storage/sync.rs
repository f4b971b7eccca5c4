//! Durability tracking and group commit.
//!
//! Every append gets a sequence number. A log's [`Durability`] knows the last
//! sequence written and the last one made durable. Whoever needs a sequence
//! durable either finds it already covered, waits for the fdatasync in
//! flight, or becomes the leader that issues the next one. The leader syncs
//! whatever was written up to the moment it starts, so one fdatasync covers
//! every appender that arrived before it: concurrent appenders share fsyncs
//! (group commit).
//!
//! Async code awaits a [`Commit`] instead of blocking: its waker is parked
//! here and the background syncer thread (one per process) leads the round.
//! The same thread flushes `EverySec` logs once a second, with one `syncfs`
//! when many logs of one data directory are dirty.
//!
//! Invariants:
//! - `synced <= written`, and `synced` only grows.
//! - At most `MAX_INFLIGHT` rounds per log in flight at a time.
//! - Segments sealed since the last round are synced before the active one,
//!   in the same round, so a durable later segment implies durable earlier
//!   ones.
//! - After a failed fdatasync, `failed` is set for good: every waiter gets the
//!   error and the log refuses writes until it is reopened.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use super::io::{FileRef, Io};
use crate::config::{EVERYSEC_INTERVAL, FsyncPolicy};
use crate::error::{Result, StorageError};

/// At least this many dirty logs of one data directory are flushed with one
/// `syncfs` instead of one fdatasync each.
const SYNCFS_MIN_LOGS: usize = 16;

/// Rounds of one log that may be in flight at once (see `Durability::lead`).
/// `BROOK_SYNC_INFLIGHT` overrides it, for measurements.
const MAX_INFLIGHT: u32 = 1;

/// The longest a leader waits for other appenders to join its round.
const MAX_GATHER: Duration = Duration::from_micros(200);

/// Bounds of how long a waiter yields before it sleeps (see `sync_to`).
const MIN_SPIN: Duration = Duration::from_micros(50);
const MAX_SPIN: Duration = Duration::from_micros(500);

/// A leader never waits for more appends than this.
const MAX_GATHER_APPENDS: u64 = 64;

#[derive(Default)]
struct DurState {
    written: u64,
    synced: u64,
    /// Rounds in flight.
    inflight: u32,
    /// The highest goal of the rounds in flight (or of past rounds).
    inflight_goal: u64,
    failed: Option<String>,
    /// Sealed segments not yet synced, oldest first.
    pending: Vec<FileRef>,
    active: Option<FileRef>,
    wakers: Vec<(u64, Waker)>,
    /// Registered with the background syncer.
    queued: bool,
    /// Handed to the background syncer for a round for async waiters, and
    /// that round has not started: later waiters need not ask again.
    urgent: bool,
    /// Callers inside `sync_to` now.
    callers: u32,
    /// Callers (and async waiters) the last completed round released: how
    /// many appenders are active, and will append again soon.
    released: u64,
    /// How long the last round's fdatasyncs took.
    last_sync: Duration,
}

/// Counters a log reports.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncStats {
    /// fdatasync rounds completed.
    pub syncs: u64,
    /// Duration of the last round, in microseconds.
    pub last_sync_micros: u64,
}

fn policy_code(p: FsyncPolicy) -> u8 {
    match p {
        FsyncPolicy::Always => 0,
        FsyncPolicy::EverySec => 1,
        FsyncPolicy::No => 2,
    }
}

/// Durability state of one log.
pub(crate) struct Durability {
    pub dir: PathBuf,
    /// The data directory, for `syncfs` batching; `None` for a log opened
    /// on its own.
    pub fs_root: Option<PathBuf>,
    io: Arc<dyn Io>,
    /// The policy's code (see [`policy_code`]); changeable while open.
    policy: AtomicU8,
    state: Mutex<DurState>,
    cv: Condvar,
    stats: Mutex<SyncStats>,
    /// Rounds completed: waiters watch it without taking the lock.
    rounds: AtomicU64,
}

impl Durability {
    pub fn new(
        dir: PathBuf,
        fs_root: Option<PathBuf>,
        io: Arc<dyn Io>,
        policy: FsyncPolicy,
        written: u64,
        active: Option<FileRef>,
    ) -> Arc<Self> {
        Arc::new(Durability {
            dir,
            fs_root,
            io,
            policy: AtomicU8::new(policy_code(policy)),
            state: Mutex::new(DurState {
                written,
                synced: written,
                inflight_goal: written,
                active,
                ..DurState::default()
            }),
            cv: Condvar::new(),
            stats: Mutex::new(SyncStats::default()),
            rounds: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> MutexGuard<'_, DurState> {
        // A panic while holding this lock leaves plain counters behind,
        // which stay consistent; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn poisoned(&self, cause: &str) -> StorageError {
        StorageError::Poisoned {
            dir: self.dir.clone(),
            cause: cause.to_string(),
        }
    }

    /// The policy now.
    pub fn policy(&self) -> FsyncPolicy {
        match self.policy.load(Ordering::Acquire) {
            0 => FsyncPolicy::Always,
            1 => FsyncPolicy::EverySec,
            _ => FsyncPolicy::No,
        }
    }

    /// Changes the policy. Appends already written are synced as the new
    /// policy says from now on (under `EverySec`, by the next round).
    pub fn set_policy(self: &Arc<Self>, policy: FsyncPolicy) {
        self.policy.store(policy_code(policy), Ordering::Release);
        if policy == FsyncPolicy::EverySec {
            let mut st = self.lock();
            if st.written > st.synced && !st.queued {
                st.queued = true;
                drop(st);
                syncer().mark_dirty(self.clone());
            }
        }
    }

    /// Refuses writes after a failed fsync.
    pub fn check_writable(&self) -> Result<()> {
        match &self.lock().failed {
            Some(cause) => Err(self.poisoned(cause)),
            None => Ok(()),
        }
    }

    /// Records that sequence `seq` was written (writer only).
    pub fn note_write(self: &Arc<Self>, seq: u64) {
        let mut st = self.lock();
        st.written = seq;
        if self.policy() == FsyncPolicy::EverySec && !st.queued {
            st.queued = true;
            drop(st);
            syncer().mark_dirty(self.clone());
        }
    }

    /// Records a roll: `old` is sealed and must be synced before `new`.
    pub fn note_roll(&self, old: FileRef, new: FileRef) {
        let mut st = self.lock();
        st.pending.push(old);
        st.active = Some(new);
    }

    /// Records the first segment of a log that had none.
    pub fn note_roll_first(&self, new: FileRef) {
        self.lock().active = Some(new);
    }

    /// The last sequence written and the last made durable.
    pub fn positions(&self) -> (u64, u64) {
        let st = self.lock();
        (st.written, st.synced)
    }

    /// Counters of completed sync rounds.
    pub fn stats(&self) -> SyncStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Blocks until `target` is durable, leading a round when no round in
    /// flight covers it.
    pub fn sync_to(self: &Arc<Self>, target: u64) -> Result<()> {
        let mut st = self.lock();
        st.callers += 1;
        let r = self.sync_to_locked(st, target);
        self.lock().callers -= 1;
        r
    }

    fn sync_to_locked<'a>(
        self: &'a Arc<Self>,
        mut st: MutexGuard<'a, DurState>,
        target: u64,
    ) -> Result<()> {
        loop {
            if let Some(cause) = &st.failed {
                return Err(self.poisoned(cause));
            }
            if st.synced >= target {
                return Ok(());
            }
            if st.inflight_goal >= target || st.inflight >= max_inflight() {
                // A round will end within about one fdatasync: wait for it
                // yielding the CPU rather than asleep on the condvar, so
                // that the waiters of a round resume side by side instead of
                // one futex wake-up after another. Past that, sleep.
                let spin = (st.last_sync * 2).clamp(MIN_SPIN, MAX_SPIN);
                let seen = self.rounds.load(Ordering::Acquire);
                drop(st);
                let until = Instant::now() + spin;
                while self.rounds.load(Ordering::Acquire) == seen && Instant::now() < until {
                    std::thread::yield_now();
                }
                st = self.lock();
                if self.rounds.load(Ordering::Acquire) != seen {
                    continue;
                }
                st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
            } else {
                st = self.lead(st);
            }
        }
    }

    /// One round: sync everything written so far. Called with the lock held
    /// when no round in flight covers the latest write; returns with the
    /// lock held again.
    ///
    /// Rounds may overlap when `MAX_INFLIGHT` > 1: appenders that arrive
    /// while a round is in flight then start the next one at once instead of
    /// waiting for it. This is sound because an fdatasync returns only once
    /// everything written to the file before the call is durable, whatever
    /// other syncs are doing; sealed files stay in `pending` until a round
    /// that synced them completes, so every overlapping round syncs them
    /// too. The default is 1: on the disk measured (docs/benchmarks.md) the
    /// device serialises flushes and overlapping rounds were slower.
    ///
    /// Before it syncs, a leader may gather: when the last round released
    /// several waiters, they are about to append again (they were just
    /// released), so the leader waits, yielding the CPU to them, until as
    /// many appends are unsynced, for at most half an fdatasync (and
    /// `MAX_GATHER`), so that one fdatasync covers them all
    /// instead of the one or two that were quickest (as PostgreSQL's
    /// `commit_delay` does when `commit_siblings` are active). A lone
    /// appender never waits.
    fn lead<'a>(self: &'a Arc<Self>, mut st: MutexGuard<'a, DurState>) -> MutexGuard<'a, DurState> {
        st.inflight += 1;
        st.queued = false;
        let want = st.released.min(MAX_GATHER_APPENDS);
        if want > 1 && st.inflight == 1 && st.written - st.synced < want {
            let deadline = Instant::now() + (st.last_sync / 2).min(MAX_GATHER);
            while st.written - st.synced < want {
                if Instant::now() >= deadline {
                    break;
                }
                // The appenders are awake (see `sync_to`): yield to them.
                drop(st);
                std::thread::yield_now();
                st = self.lock();
            }
        }
        let goal = st.written;
        st.inflight_goal = st.inflight_goal.max(goal);
        let sealed = st.pending.len();
        let mut files: Vec<FileRef> = st.pending.clone();
        files.extend(st.active.clone());
        drop(st);
        let started = Instant::now();
        let mut outcome = Ok(());
        for f in &files {
            if let Err(e) = f.sync_data() {
                outcome = Err(e.to_string());
                break;
            }
        }
        self.record_round(started);
        let mut st = self.lock();
        st.last_sync = started.elapsed();
        if outcome.is_ok() {
            let done = &files[..sealed];
            st.pending
                .retain(|p| !done.iter().any(|d| Arc::ptr_eq(d, p)));
        }
        self.finish(st, goal, outcome)
    }

    fn record_round(&self, started: Instant) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.syncs += 1;
        s.last_sync_micros = started.elapsed().as_micros() as u64;
    }

    fn finish<'a>(
        self: &'a Arc<Self>,
        mut st: MutexGuard<'a, DurState>,
        goal: u64,
        outcome: std::result::Result<(), String>,
    ) -> MutexGuard<'a, DurState> {
        st.inflight -= 1;
        self.rounds.fetch_add(1, Ordering::Release);
        match outcome {
            Ok(()) => st.synced = st.synced.max(goal),
            Err(cause) => st.failed = Some(cause),
        }
        let synced = st.synced;
        let failed = st.failed.is_some();
        let mut rest = Vec::new();
        let mut woken = 0u64;
        for (target, waker) in std::mem::take(&mut st.wakers) {
            if failed || target <= synced {
                waker.wake();
                woken += 1;
            } else {
                rest.push((target, waker));
            }
        }
        st.released = u64::from(st.callers) + woken + rest.len() as u64;
        let again = rest.iter().any(|(t, _)| *t > st.inflight_goal) && !st.urgent;
        st.wakers = rest;
        self.cv.notify_all();
        if again {
            st.urgent = true;
            syncer().request(self.clone());
        }
        st
    }

    /// Leads a round if anything written is neither synced nor covered by a
    /// round in flight (the background syncer's entry point).
    fn round_if_needed(self: &Arc<Self>) {
        let mut st = self.lock();
        // From here, waiters that find their write not covered ask again.
        st.urgent = false;
        if st.failed.is_some() || st.synced >= st.written {
            st.queued = false;
            return;
        }
        if st.inflight_goal >= st.written || st.inflight >= max_inflight() {
            // The rounds in flight may not cover later writes: look again at
            // the next tick.
            st.queued = true;
            drop(st);
            syncer().mark_dirty(self.clone());
            return;
        }
        drop(self.lead(st));
    }

    /// Starts a round whose sync is done by the caller for many logs at
    /// once (`syncfs`). Returns the goal and the sealed files it covers, or
    /// `None` when nothing is needed.
    fn begin_external(self: &Arc<Self>) -> Option<(u64, Vec<FileRef>)> {
        let mut st = self.lock();
        if st.failed.is_some() || st.synced >= st.written {
            st.queued = false;
            return None;
        }
        if st.inflight_goal >= st.written || st.inflight >= max_inflight() {
            drop(st);
            syncer().mark_dirty(self.clone());
            return None;
        }
        st.queued = false;
        st.inflight += 1;
        let goal = st.written;
        st.inflight_goal = st.inflight_goal.max(goal);
        Some((goal, st.pending.clone()))
    }

    fn end_external(
        self: &Arc<Self>,
        goal: u64,
        sealed: &[FileRef],
        outcome: std::result::Result<(), String>,
    ) {
        let mut st = self.lock();
        if outcome.is_ok() {
            // syncfs covered the sealed files too.
            st.pending
                .retain(|p| !sealed.iter().any(|d| Arc::ptr_eq(d, p)));
        }
        drop(self.finish(st, goal, outcome));
    }

    fn poll_durable(
        self: &Arc<Self>,
        target: u64,
        inline: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<()>> {
        let mut st = self.lock();
        if let Some(cause) = &st.failed {
            return Poll::Ready(Err(self.poisoned(cause)));
        }
        if st.synced >= target {
            return Poll::Ready(Ok(()));
        }
        if inline && st.inflight == 0 && st.wakers.is_empty() && st.callers == 0 && st.released <= 1
        {
            // A lone appender, and the caller allows it: sync here (see
            // `Commit::inline_when_alone`).
            let st = self.lead(st);
            if let Some(cause) = &st.failed {
                return Poll::Ready(Err(self.poisoned(cause)));
            }
            if st.synced >= target {
                return Poll::Ready(Ok(()));
            }
            drop(st);
            return self.poll_durable(target, false, cx);
        }
        st.wakers.push((target, cx.waker().clone()));
        // One request per round: the round syncs everything written when
        // it starts, which covers every waiter that asked before.
        let ask = st.inflight_goal < target && !st.urgent;
        if ask {
            st.urgent = true;
        }
        drop(st);
        if ask {
            syncer().request(self.clone());
        }
        Poll::Pending
    }
}

fn max_inflight() -> u32 {
    static N: OnceLock<u32> = OnceLock::new();
    *N.get_or_init(|| {
        std::env::var("BROOK_SYNC_INFLIGHT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(MAX_INFLIGHT)
            .max(1)
    })
}

/// A pending append: durable once awaited (async) or waited on (sync).
///
/// The append itself already happened and is visible to readers; the commit
/// only says when it is durable under the log's policy. Under `EverySec` and
/// `No` it is ready at once. Clones wait for the same append (the replies
/// to a pipeline written with one write share it).
#[must_use = "an append is acknowledged only once its Commit completes"]
#[derive(Clone)]
pub struct Commit {
    pub(crate) dur: Option<Arc<Durability>>,
    pub(crate) seq: u64,
    /// May sync on the polling thread (see [`Commit::inline_when_alone`]).
    pub(crate) inline: bool,
}

impl Commit {
    /// The append's sequence number in its log.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Lets the future sync on the thread that polls it when it is the
    /// log's only waiter and the last round released at most one (a lone
    /// appender), instead of handing the round to the background syncer
    /// and being woken by it: the poll then blocks for one fdatasync, as
    /// Redis's `appendfsync always` does in its event loop. The two thread
    /// hand-offs it saves cost more than the fdatasync on a VM
    /// (docs/benchmarks.md). Under load rounds release many waiters and go
    /// to the syncer as before. For a server's connection tasks; a library
    /// caller that must never block keeps the default.
    pub fn inline_when_alone(mut self) -> Commit {
        self.inline = true;
        self
    }

    /// False when the commit is durable on return (its log is not under
    /// `always`): awaiting it never waits.
    pub fn may_wait(&self) -> bool {
        self.dur.is_some()
    }

    /// Blocks the calling thread until the append is durable.
    pub fn wait(self) -> Result<u64> {
        if let Some(d) = &self.dur {
            d.sync_to(self.seq)?;
        }
        Ok(self.seq)
    }
}

impl Future for Commit {
    type Output = Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &self.dur {
            None => Poll::Ready(Ok(self.seq)),
            Some(d) => d
                .poll_durable(self.seq, self.inline, cx)
                .map(|r| r.map(|()| self.seq)),
        }
    }
}

/// The background syncer: leads rounds for async waiters, and flushes dirty
/// `EverySec` logs once a second.
struct Syncer {
    state: Mutex<SyncerState>,
    cv: Condvar,
}

#[derive(Default)]
struct SyncerState {
    urgent: Vec<Arc<Durability>>,
    dirty: Vec<Arc<Durability>>,
}

fn syncer() -> &'static Syncer {
    static SYNCER: OnceLock<&'static Syncer> = OnceLock::new();
    SYNCER.get_or_init(|| {
        let s: &'static Syncer = Box::leak(Box::new(Syncer {
            state: Mutex::new(SyncerState::default()),
            cv: Condvar::new(),
        }));
        let spawned = std::thread::Builder::new()
            .name("brook-sync".into())
            .spawn(move || s.run());
        if spawned.is_err() {
            // Without the thread nothing is flushed in the background; waiters
            // still lead their own rounds through `Commit::wait`.
            eprintln!("brook: could not start the background sync thread");
        }
        s
    })
}

impl Syncer {
    fn lock(&self) -> MutexGuard<'_, SyncerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn request(&self, d: Arc<Durability>) {
        self.lock().urgent.push(d);
        self.cv.notify_one();
    }

    fn mark_dirty(&self, d: Arc<Durability>) {
        self.lock().dirty.push(d);
    }

    fn run(&self) {
        let mut next_tick = Instant::now() + EVERYSEC_INTERVAL;
        loop {
            let (urgent, dirty) = {
                let mut st = self.lock();
                while st.urgent.is_empty() && Instant::now() < next_tick {
                    let wait = next_tick.saturating_duration_since(Instant::now());
                    st = self
                        .cv
                        .wait_timeout(st, wait)
                        .map_or_else(|e| e.into_inner().0, |r| r.0);
                }
                let urgent = std::mem::take(&mut st.urgent);
                let dirty = if Instant::now() >= next_tick {
                    next_tick = Instant::now() + EVERYSEC_INTERVAL;
                    std::mem::take(&mut st.dirty)
                } else {
                    Vec::new()
                };
                (urgent, dirty)
            };
            for d in urgent {
                d.round_if_needed();
            }
            flush_dirty(dirty);
        }
    }
}

/// A log in a `syncfs` round: its goal and the sealed files covered.
type External = (Arc<Durability>, (u64, Vec<FileRef>));

/// Flushes dirty logs: with one `syncfs` per data directory that has many,
/// with one round each otherwise.
fn flush_dirty(dirty: Vec<Arc<Durability>>) {
    let mut by_root: std::collections::HashMap<PathBuf, Vec<Arc<Durability>>> =
        std::collections::HashMap::new();
    for d in dirty {
        match &d.fs_root {
            Some(root) => by_root.entry(root.clone()).or_default().push(d),
            None => d.round_if_needed(),
        }
    }
    for (root, logs) in by_root {
        if logs.len() < SYNCFS_MIN_LOGS {
            for d in logs {
                d.round_if_needed();
            }
            continue;
        }
        let goals: Vec<External> = logs
            .into_iter()
            .filter_map(|d| d.begin_external().map(|g| (d, g)))
            .collect();
        let Some((first, _)) = goals.first() else {
            continue;
        };
        let started = Instant::now();
        let outcome = first.io.sync_fs(&root).map_err(|e| e.to_string());
        for (d, (goal, sealed)) in &goals {
            d.record_round(started);
            d.end_external(*goal, sealed, outcome.clone());
        }
    }
}
