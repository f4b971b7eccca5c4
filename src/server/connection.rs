//! One client connection: read what arrived, run every complete request in
//! it, wait for the commits their replies depend on, write all the replies
//! at once.
//!
//! Invariants:
//! - Replies go out in request order; a reply that depends on a commit
//!   (`always`) is written only once the commit is durable, and becomes an
//!   error if the commit fails.
//! - While replies are being written, no more requests are read: a client
//!   that does not read its replies stops being served, and holds at most
//!   one read's worth of replies. Over `client-output-buffer-limit` it is
//!   disconnected.
//! - A protocol error is answered, then the connection is closed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::blocking::BlockSpec;
use super::client::{ClientInfo, ClientState, ReplyMode};
use super::cmd::args::{Args, Ctx, Outcome};
use super::cmd::table::{self, COMMANDS, LOADING, WRITE};
use super::cmd::xadd::{self, XAdd};
use super::shared::{Shared, lock};
use crate::engine::keyspace::{StagedTicket, now_ms};
use crate::engine::pubsub::{Inbox, Mailbox, Message};
use crate::error::EngineError;
use crate::resp::frame::Frame;
use crate::resp::parse::RequestParser;
use crate::storage::Commit;

/// Bytes read from the socket at a time (at least).
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Pre-encoded replies at least this large are written from where they
/// are, not copied into the output buffer.
const CHUNK_MIN_BYTES: usize = 4096;
/// The most reserved for an argument before its bytes arrive.
const MAX_RESERVE_BYTES: usize = 16 << 20;
/// Without a hard output limit, replies are written out once this many
/// bytes wait, even within one read's requests.
const FLUSH_AT_BYTES: usize = 1 << 20;

/// LPUSH, RPUSH, LPOP or RPOP: what a batch of list commands may hold.
fn is_list_rw(args: &[Bytes]) -> bool {
    let Some(name) = args.first() else {
        return false;
    };
    args.len() >= 2
        && [&b"LPUSH"[..], b"RPUSH", b"LPOP", b"RPOP"]
            .iter()
            .any(|n| name.eq_ignore_ascii_case(n))
}

fn is_publish(args: &[Bytes]) -> bool {
    args.len() == 3
        && (args[0].eq_ignore_ascii_case(b"PUBLISH") || args[0].eq_ignore_ascii_case(b"SPUBLISH"))
}

/// `first` and the requests after it that `same` takes: a run handled in
/// one go.
fn take_run<'a, I: Iterator<Item = Vec<Bytes>>>(
    first: Vec<Bytes>,
    reqs: &'a mut std::iter::Peekable<I>,
    same: impl Fn(&Vec<Bytes>) -> bool + 'a,
) -> impl Iterator<Item = Vec<Bytes>> + 'a {
    std::iter::once(first).chain(std::iter::from_fn(move || reqs.next_if(&same)))
}

fn is_xadd(args: &[Bytes]) -> bool {
    args.len() >= 5 && args[0].eq_ignore_ascii_case(b"XADD")
}

/// A reply that waits for its journal record or its commits.
struct Waiting {
    /// `None`: a reply not to be sent (CLIENT REPLY OFF).
    frame: Option<Frame>,
    /// Durable first (`always`).
    commits: Vec<Commit>,
    /// Written first: the record of list ops left staged.
    staged: Option<Arc<StagedTicket>>,
}

/// Why the connection ends.
enum End {
    /// Keep serving.
    Continue,
    /// Close after writing what is queued.
    Close,
}

struct Connection {
    shared: Arc<Shared>,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    rbuf: BytesMut,
    out: BytesMut,
    /// Replies to send before `out`: large pre-encoded ones are kept as
    /// they are instead of being copied into `out`.
    chunks: Vec<Bytes>,
    /// Replies waiting, in order; once one waits, every later reply
    /// queues behind it.
    pending: Vec<Waiting>,
    /// The requests of a pass (empty between passes; kept for its room).
    reqs: Vec<Vec<Bytes>>,
    parser: RequestParser,
    client: ClientState,
    /// The last reading of the clock: when the pass started, then when
    /// the last command ended (the next one's start).
    clock: Instant,
    /// The wall clock (ms since the epoch) read at the pass's start, and
    /// `clock` then: commands take their time from these, as Redis
    /// caches the time for each command, without reading it again.
    wall: (u64, Instant),
}

/// Serves a client until it leaves, is killed, or the server stops.
pub async fn serve(shared: Arc<Shared>, socket: TcpStream, info: Arc<ClientInfo>) {
    let _ = socket.set_nodelay(true);
    let (reader, writer) = socket.into_split();
    let (authenticated, max_bulk) = shared.with_config(|cfg| {
        (
            cfg.get("requirepass").unwrap_or_default().is_empty(),
            cfg.number("proto-max-bulk-len") as usize,
        )
    });
    let mut conn = Connection {
        shared: shared.clone(),
        reader,
        writer,
        rbuf: BytesMut::with_capacity(READ_CHUNK_BYTES),
        out: BytesMut::with_capacity(16 * 1024),
        chunks: Vec::new(),
        pending: Vec::new(),
        reqs: Vec::new(),
        parser: RequestParser::new(max_bulk),
        client: ClientState::new(info.clone(), authenticated),
        clock: Instant::now(),
        wall: (now_ms(), Instant::now()),
    };
    if let Err(e) = conn.run().await {
        tracing::debug!(client = info.id, "connection ended: {e}");
    }
    conn.unwatch_all();
    conn.client.subs.clear(&shared.pubsub, &info);
    lock(&shared.clients).remove(&info.id);
}

/// The next message of a subscribed client; never, for the others.
async fn next_message(inbox: &mut Option<Inbox>) -> Option<Arc<Message>> {
    match inbox {
        Some(i) => i.recv().await,
        None => std::future::pending().await,
    }
}

/// Completes when the subscriber went over its output limits.
async fn overflowed(mailbox: Option<&Mailbox>) {
    match mailbox {
        Some(m) if m.overflowed() => {}
        Some(m) => m.overflow.notified().await,
        None => std::future::pending().await,
    }
}

/// Bytes of messages written to a subscriber at a time.
const DELIVER_BATCH_BYTES: usize = 256 * 1024;
/// Scheduler passes a subscriber's write waits for while messages keep
/// coming in each (see [`Connection::deliver`]).
const DELIVER_MAX_PASSES: usize = 8;

impl Connection {
    /// Writes `first` and the messages queued behind it (up to a batch),
    /// giving up on a subscriber that overflows meanwhile.
    async fn deliver(&mut self, first: Arc<Message>) -> std::io::Result<()> {
        self.encode_message(&first);
        let mut bytes = first.payload().len() + first.channel().len();
        // As Redis writes a subscriber's messages once per event-loop
        // pass: the connections ready now run first, so that what they
        // publish goes out in the same write. While each pass brings more,
        // the write waits for the next, up to `DELIVER_MAX_PASSES`: a
        // publisher waiting for each reply adds one message a pass, and a
        // write per message and subscriber (and the subscriber's wake-up
        // for it) is what a fan-out spends most on. The first pass without
        // a new message writes.
        for _ in 0..DELIVER_MAX_PASSES {
            tokio::task::yield_now().await;
            let mut more = false;
            while bytes < DELIVER_BATCH_BYTES {
                let Some(m) = self.client.subs.inbox.as_mut().and_then(Inbox::try_recv) else {
                    break;
                };
                more = true;
                bytes += m.payload().len() + m.channel().len();
                self.encode_message(&m);
            }
            if !more || bytes >= DELIVER_BATCH_BYTES {
                break;
            }
        }
        let Some(mailbox) = self.client.subs.inbox.as_ref().map(|i| i.mailbox().clone()) else {
            return self.flush().await;
        };
        tokio::select! {
            r = self.flush() => r,
            _ = overflowed(Some(&mailbox)) => {
                self.output_limit_close("pubsub");
                Err(std::io::Error::other("pubsub output over its limits"))
            }
        }
    }

    /// Counts and logs a client closed for its output limits.
    fn output_limit_close(&self, class: &str) {
        self.shared
            .stats
            .output_limit_disconnections
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            client = self.client.info.id,
            "client scheduled to be closed for overcoming of output buffer limits ({class})"
        );
    }

    /// Queues a message as its push: `[message, channel, payload]`,
    /// `[pmessage, pattern, channel, payload]` or `[smessage, …]`. A large
    /// payload is written from where it is, not copied.
    fn encode_message(&mut self, m: &Message) {
        let resp3 = self.client.protocol == crate::resp::frame::Protocol::Resp3;
        super::cmd::subscribe::message_head(&mut self.out, m, resp3);
        if m.payload().len() >= CHUNK_MIN_BYTES {
            self.chunks.push(self.out.split().freeze());
            self.chunks.push(m.payload_bytes());
        } else {
            self.out.extend_from_slice(m.payload());
        }
        self.out.extend_from_slice(b"\r\n");
    }

    async fn run(&mut self) -> std::io::Result<()> {
        let mut shutdown = self.shared.shutdown.subscribe();
        let info = self.client.info.clone();
        // Made once for the connection, not once a pass: each would join
        // and leave a waiter list, under its lock, for every request.
        let killed = info.kill.notified();
        tokio::pin!(killed);
        let stopping = shutdown.wait_for(|s| *s);
        tokio::pin!(stopping);
        loop {
            let timeout = self.shared.hot.timeout.load(Ordering::Relaxed);
            // Subscribers are never idle, as in Redis.
            let exempt =
                self.client.info.blocked.load(Ordering::Relaxed) || self.client.subs.active();
            let idle = async {
                if timeout == 0 || exempt {
                    std::future::pending::<()>().await
                } else {
                    tokio::time::sleep(Duration::from_secs(timeout)).await
                }
            };
            // Room for a large argument in few pieces, but not reserved
            // all at once on a client's word (a declared 512 MB bulk).
            let want = READ_CHUNK_BYTES.max(self.parser.wants().min(MAX_RESERVE_BYTES));
            self.rbuf.reserve(want);
            let mailbox = self.client.subs.inbox.as_ref().map(|i| i.mailbox().clone());
            let mut pushed = None;
            let n = tokio::select! {
                r = self.reader.read_buf(&mut self.rbuf) => Some(r?),
                m = next_message(&mut self.client.subs.inbox) => {
                    pushed = m;
                    None
                }
                _ = overflowed(mailbox.as_deref()) => {
                    self.output_limit_close("pubsub");
                    return Ok(());
                }
                _ = &mut killed => return Ok(()),
                _ = &mut stopping => return Ok(()),
                _ = idle => return Ok(()),
            };
            let Some(n) = n else {
                if let Some(m) = pushed {
                    self.deliver(m).await?;
                }
                continue;
            };
            if n == 0 || info.killed.load(Ordering::Acquire) {
                return Ok(());
            }
            self.tick();
            self.touched();
            self.shared
                .stats
                .net_input_bytes
                .fetch_add(n as u64, Ordering::Relaxed);
            let limit = self.shared.hot.query_limit.load(Ordering::Relaxed) as usize;
            if limit > 0 && self.rbuf.len() > limit && self.parser.wants() == 0 {
                tracing::warn!(
                    client = info.id,
                    "closing client that reached max query buffer length"
                );
                return Ok(());
            }
            // The requests read, in a vector kept from pass to pass.
            let mut batch = std::mem::take(&mut self.reqs);
            let mut bad = None;
            loop {
                match self.parser.next(&mut self.rbuf) {
                    Ok(Some(args)) => batch.push(args),
                    Ok(None) => break,
                    Err(e) => {
                        bad = Some(e);
                        break;
                    }
                }
            }
            // Replies wait for the end of the pass only after a pipeline.
            let pipelined = batch.len() > 1;
            let mut reqs = batch.drain(..).peekable();
            while let Some(args) = reqs.next() {
                let end = if is_list_rw(&args) && self.can_batch_lists() {
                    // A pipeline of pushes and pops: one hold of the
                    // keyspace, one journal record.
                    self.list_run(take_run(args, &mut reqs, |a| is_list_rw(a)));
                    End::Continue
                } else if is_publish(&args) && self.can_batch() {
                    // A pipeline of publishes: one command context.
                    self.publish_run(take_run(args, &mut reqs, |a| is_publish(a)));
                    End::Continue
                } else if is_xadd(&args) && self.can_batch() {
                    // A pipeline of XADDs to one key: one write for all.
                    let key = args[1].clone();
                    let run = take_run(args, &mut reqs, |a| is_xadd(a) && a[1] == key).collect();
                    self.xadd_run(key, run).await?
                } else {
                    self.request(args).await?
                };
                if let End::Close = end {
                    self.flush().await?;
                    return Ok(());
                }
                if self.over_output_limit() {
                    return Ok(());
                }
                if self.queued() >= FLUSH_AT_BYTES {
                    self.flush().await?;
                    self.tick();
                }
            }
            drop(reqs);
            self.reqs = batch;
            if let Some(e) = bad {
                self.push(Frame::error(format!("ERR {e}")), Vec::new());
                self.flush().await?;
                tracing::info!(client = info.id, "protocol error from client: {e}");
                return Ok(());
            }
            self.write_out(pipelined).await?;
        }
    }

    /// Whether requests may skip the one-by-one path: authenticated, not
    /// in MULTI, no CLIENT PAUSE.
    fn can_batch(&self) -> bool {
        self.client.authenticated
            && self.client.multi.is_none()
            && (!self.shared.paused.load(Ordering::Acquire) || lock(&self.shared.pause).is_none())
    }

    /// Runs consecutive XADDs to `key`; the plain ones are appended
    /// together, the others one by one, replies in order.
    async fn xadd_run(&mut self, key: Bytes, run: Vec<Vec<Bytes>>) -> std::io::Result<End> {
        let mut plain = Vec::new();
        for args in run {
            let mut args = Args::new(args);
            match XAdd::parse(&mut args) {
                Ok(x) if x.is_plain_to(&key) => plain.push(x),
                _ => {
                    self.xadd_group(&key, std::mem::take(&mut plain));
                    if let End::Close = self.request(args.into_argv()).await? {
                        return Ok(End::Close);
                    }
                }
            }
        }
        self.xadd_group(&key, plain);
        Ok(End::Continue)
    }

    /// Whether consecutive list commands may run as one batch: as
    /// [`Connection::can_batch`], and no keyspace notifications (they read
    /// the keyspace the batch holds).
    fn can_batch_lists(&self) -> bool {
        // No blocked client either: they are served after each command,
        // which a batch would defer. None can block while the batch holds
        // the keyspace.
        self.can_batch()
            && self.shared.hot.events.load(Ordering::Relaxed) == 0
            && self.shared.blocked.is_empty()
    }

    /// Runs list commands as one [`crate::engine::keyspace::MemBatch`]
    /// whose ops are left staged, to be journaled with other connections'
    /// by the first of them to flush its replies (see
    /// [`Connection::flush`]): replies in order, each after that record;
    /// if its write fails, every command that changed something answers
    /// the error (memory was reloaded from the journal).
    fn list_run(&mut self, run: impl Iterator<Item = Vec<Bytes>>) {
        let outcomes = self.with_ctx(false, |ctx| {
            ctx.batch = Some(ctx.engine.mem_batch());
            let first_ready = ctx.ready.len();
            let outs: Vec<Outcome> = run.map(|a| table::execute(ctx, a)).collect();
            let staged = match ctx.batch.take() {
                Some(b) => b.stage(),
                None => Ok(None),
            };
            match staged {
                // Clients served from the batch's keys (none are blocked
                // when a batch starts, but one may block on the other
                // worker meanwhile) are served by journal writes that go
                // after the staged ops.
                Ok(ticket) => (outs, ticket),
                Err(e) => {
                    ctx.ready.truncate(first_ready);
                    // The engine's error carries its code (MISCONF for a
                    // refused write).
                    let text = e.to_string();
                    let outs = outs
                        .into_iter()
                        .map(|o| match o {
                            Outcome::Reply(Frame::Error(b)) => Outcome::Reply(Frame::Error(b)),
                            _ => Outcome::Reply(Frame::error(text.clone())),
                        })
                        .collect();
                    (outs, None)
                }
            }
        });
        let (outs, ticket) = outcomes;
        for o in outs {
            match o {
                Outcome::Durable(f, c) => self.push(f, c),
                Outcome::Reply(f) => self.push_after(f, Vec::new(), ticket.clone()),
                // Pushes and pops never block, close or sleep.
                _ => {}
            }
        }
    }

    /// Runs PUBLISH and SPUBLISH commands, which only ever reply, in one
    /// command context.
    fn publish_run(&mut self, run: impl Iterator<Item = Vec<Bytes>>) {
        let outs: Vec<Outcome> =
            self.with_ctx(false, |ctx| run.map(|a| table::execute(ctx, a)).collect());
        for o in outs {
            match o {
                Outcome::Reply(f) => self.push(f, Vec::new()),
                Outcome::Durable(f, c) => self.push(f, c),
                // Publishing never blocks, closes or sleeps.
                _ => {}
            }
        }
    }

    fn xadd_group(&mut self, key: &Bytes, group: Vec<XAdd>) {
        if group.is_empty() {
            return;
        }
        let start = Instant::now();
        let results = self.with_ctx(false, |ctx| xadd::run_many(ctx, key, &group));
        let failed = results.iter().filter(|r| r.is_err()).count();
        table::count_many(&self.shared, "XADD", group.len(), failed, start.elapsed());
        self.shared.watched.touch(self.client.db, key);
        if let Some(i) = table::lookup(b"XADD") {
            self.client.info.last_cmd.store(i, Ordering::Relaxed);
        }
        for r in results {
            match r {
                Ok(Outcome::Durable(f, c)) => self.push(f, c),
                Ok(Outcome::Reply(f)) => self.push(f, Vec::new()),
                Ok(_) => {}
                Err(e) => self.push(Frame::Error(Bytes::from(e.0)), Vec::new()),
            }
        }
    }

    fn over_output_limit(&self) -> bool {
        let hard = self.shared.hot.out_hard.load(Ordering::Relaxed);
        let queued = self.queued() as u64;
        if hard > 0 && queued > hard {
            self.output_limit_close("normal");
            return true;
        }
        false
    }

    /// Runs one request and queues its reply.
    async fn request(&mut self, args: Vec<Bytes>) -> std::io::Result<End> {
        self.wait_for_pause(&args).await?;
        let is_exec = args
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"EXEC"));
        let outcome = self.with_ctx(is_exec, |ctx| table::execute(ctx, args));
        match outcome {
            Outcome::Reply(f) => self.push(f, Vec::new()),
            Outcome::Durable(f, commits) => self.push(f, commits),
            Outcome::Close(f) => {
                self.push(f, Vec::new());
                return Ok(End::Close);
            }
            Outcome::Sleep(d, f) => {
                self.flush().await?;
                tokio::time::sleep(d).await;
                self.tick();
                self.push(f, Vec::new());
            }
            Outcome::Block(spec) => {
                self.flush().await?;
                let end = self.block(*spec).await;
                self.tick();
                return end;
            }
            Outcome::Shutdown => {
                self.flush().await?;
                let _ = self.shared.shutdown.send(true);
                return Ok(End::Close);
            }
            Outcome::Reload => {
                self.flush().await?;
                let shared = self.shared.clone();
                let r = tokio::task::spawn_blocking(move || super::listener::reload(&shared)).await;
                self.tick();
                let f = match r {
                    Ok(Ok(())) => Frame::ok(),
                    Ok(Err(e)) => Frame::error(format!("ERR Error trying to load the data: {e}")),
                    Err(e) => Frame::error(format!("ERR Error trying to load the data: {e}")),
                };
                self.push(f, Vec::new());
            }
        }
        Ok(End::Continue)
    }

    /// Runs `f` with a command context: the engine, held only for the call,
    /// and the transaction lock (its write side for EXEC).
    fn with_ctx<R>(&mut self, exec: bool, f: impl FnOnce(&mut Ctx) -> R) -> R {
        let engine = self.shared.engine();
        let shared = self.shared.clone();
        let (_read, _write);
        if exec {
            _write = shared.exec.write().unwrap_or_else(|e| e.into_inner());
        } else {
            _read = shared.exec.read().unwrap_or_else(|e| e.into_inner());
        }
        let mut ctx = Ctx {
            shared: &self.shared,
            engine: &engine,
            client: &mut self.client,
            in_exec: false,
            now_ms: self.wall.0
                + self
                    .clock
                    .saturating_duration_since(self.wall.1)
                    .as_millis() as u64,
            clock: self.clock,
            ready: Vec::new(),
            batch: None,
        };
        let r = f(&mut ctx);
        let clock = ctx.clock;
        super::events::emit_expired(&shared, &engine);
        let ready = std::mem::take(&mut ctx.ready);
        if !ready.is_empty() {
            shared.blocked.serve(&shared, &engine, ready);
        }
        self.clock = clock;
        r
    }

    /// Reads the clocks again: a pass starts, or the connection waited.
    fn tick(&mut self) {
        let now = Instant::now();
        self.clock = now;
        self.wall = (now_ms(), now);
    }

    /// Records the client's last activity (CLIENT LIST's idle): when the
    /// pass started, as Redis records a client's last read.
    fn touched(&self) {
        let info = &self.client.info;
        info.last_ms.store(
            self.clock
                .saturating_duration_since(info.created)
                .as_millis() as u64,
            Ordering::Relaxed,
        );
    }

    /// Waits while CLIENT PAUSE holds this command back.
    async fn wait_for_pause(&mut self, args: &[Bytes]) -> std::io::Result<()> {
        loop {
            if !self.shared.paused.load(Ordering::Acquire) {
                return Ok(());
            }
            let now = Instant::now();
            let held = {
                let mut pause = lock(&self.shared.pause);
                match *pause {
                    Some((until, _)) if now >= until => {
                        *pause = None;
                        self.shared.paused.store(false, Ordering::Release);
                        None
                    }
                    p => p,
                }
            };
            let Some((until, writes_only)) = held else {
                return Ok(());
            };
            let flags = args
                .first()
                .and_then(|n| table::lookup(n))
                .map_or(0, |i| COMMANDS[i].flags);
            if flags & LOADING != 0 || (writes_only && flags & WRITE == 0) {
                return Ok(());
            }
            self.flush().await?;
            tokio::select! {
                _ = tokio::time::sleep(until - now) => {}
                _ = self.shared.unpause.notified() => {}
            }
            self.tick();
        }
    }

    /// Waits for a blocked read to be served, time out, or be unblocked.
    async fn block(&mut self, spec: BlockSpec) -> std::io::Result<End> {
        let info = self.client.info.clone();
        let shared = self.shared.clone();
        let engine = shared.engine();
        let timeout = spec.timeout;
        let nothing = spec.nothing();
        let db = spec.db;
        // Under the transaction lock, so that the last try does not run in
        // the middle of an EXEC.
        let exec = shared.exec.read().unwrap_or_else(|e| e.into_inner());
        let (reg, mut rx) = match shared.blocked.block(&shared, &engine, spec) {
            Ok(served) => {
                if let Some(dst) = served.wrote {
                    shared
                        .blocked
                        .serve(&shared, &engine, vec![(db, dst, served.commits.clone())]);
                }
                drop(exec);
                drop(engine);
                self.push(served.frame, served.commits);
                return Ok(End::Continue);
            }
            Err(r) => r,
        };
        drop(exec);
        drop(engine);
        *lock(&info.unblock) = None;
        info.blocked.store(true, Ordering::Relaxed);
        let mut shutdown = shared.shutdown.subscribe();
        let sleep = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        let mut end = End::Continue;
        let served = loop {
            tokio::select! {
                s = &mut rx => break s.ok(),
                _ = &mut sleep => break None,
                _ = info.unblocked.notified() => break None,
                _ = info.kill.notified() => { end = End::Close; break None; }
                _ = shutdown.wait_for(|s| *s) => { end = End::Close; break None; }
                r = self.reader.read_buf(&mut self.rbuf) => {
                    // Requests pipelined behind the blocked one wait in the
                    // buffer, within the query buffer limit; a closed socket
                    // ends the wait.
                    let limit = shared.hot.query_limit.load(Ordering::Relaxed) as usize;
                    match r {
                        Ok(0) | Err(_) => { end = End::Close; break None; }
                        Ok(_) if limit > 0 && self.rbuf.len() > limit => {
                            tracing::warn!(
                                client = info.id,
                                "closing blocked client that reached max query buffer length"
                            );
                            end = End::Close;
                            break None;
                        }
                        Ok(_) => {}
                    }
                }
            }
        };
        drop(reg);
        info.blocked.store(false, Ordering::Relaxed);
        // Served between the wake-up and leaving the registry: take it.
        let served = served.or_else(|| rx.try_recv().ok());
        match served {
            Some(s) => self.push(s.frame, s.commits),
            // Killed, shut down or gone: closed without a reply, as Redis
            // frees such a client.
            None if matches!(end, End::Close) => {}
            None if lock(&info.unblock).take() == Some(true) => self.push(
                Frame::error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
                Vec::new(),
            ),
            None => self.push(nothing, Vec::new()),
        }
        Ok(end)
    }

    /// Queues a reply (after `commits`, if any).
    fn push(&mut self, frame: Frame, commits: Vec<Commit>) {
        self.push_after(frame, commits, None);
    }

    /// Queues a reply after `commits` and the journal record of `staged`.
    fn push_after(
        &mut self,
        frame: Frame,
        commits: Vec<Commit>,
        staged: Option<Arc<StagedTicket>>,
    ) {
        let send = if std::mem::take(&mut self.client.suppress_reply) {
            false
        } else {
            match self.client.reply {
                ReplyMode::On => true,
                ReplyMode::Off => false,
                ReplyMode::Skip => {
                    self.client.reply = ReplyMode::On;
                    false
                }
            }
        };
        if commits.is_empty() && staged.is_none() && self.pending.is_empty() {
            if send {
                self.encode(frame);
            }
        } else {
            self.pending.push(Waiting {
                frame: send.then_some(frame),
                commits,
                staged,
            });
        }
    }

    /// Bytes of replies queued and not written.
    fn queued(&self) -> usize {
        self.out.len() + self.chunks.iter().map(Bytes::len).sum::<usize>()
    }

    /// Queues a reply's bytes: a large pre-encoded one as it is.
    fn encode(&mut self, frame: Frame) {
        match frame {
            Frame::Raw(b) if b.len() >= CHUNK_MIN_BYTES => {
                if !self.out.is_empty() {
                    self.chunks.push(self.out.split().freeze());
                }
                self.chunks.push(b);
            }
            f => f.encode_into(&mut self.out, self.client.protocol),
        }
    }

    /// Writes `chunks`, then `out`, with vectored writes.
    async fn write_queued(&mut self) -> std::io::Result<()> {
        if self.chunks.is_empty() {
            return self.writer.write_all(&self.out).await;
        }
        if !self.out.is_empty() {
            self.chunks.push(self.out.split().freeze());
        }
        let mut first = 0;
        while first < self.chunks.len() {
            let slices: Vec<std::io::IoSlice> = self.chunks[first..]
                .iter()
                .take(64)
                .map(|c| std::io::IoSlice::new(c))
                .collect();
            let mut n = self.writer.write_vectored(&slices).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            while n > 0 && first < self.chunks.len() {
                let len = self.chunks[first].len();
                if n >= len {
                    n -= len;
                    first += 1;
                } else {
                    self.chunks[first] = self.chunks[first].slice(n..);
                    n = 0;
                }
            }
        }
        self.chunks.clear();
        Ok(())
    }

    /// Journals staged ops, waits for pending commits, then writes every
    /// queued reply.
    async fn flush(&mut self) -> std::io::Result<()> {
        self.write_out(false).await
    }

    /// [`Connection::flush`]; `end_of_pass` when the connection has run
    /// a pipeline it read: its replies then wait for the other ready
    /// connections to run theirs, as Redis writes every client's replies
    /// once its event-loop pass is over. A pipelining client then gets its
    /// connections' replies in one burst, and wakes once for them, not
    /// once each (a third of the client's context switches on PUBLISH
    /// P32). A lone request's reply does not wait: its client has nothing
    /// else in flight on that connection, and the wait cost unpipelined
    /// PUBLISH and XADD a few per cent in A/Bs.
    async fn write_out(&mut self, end_of_pass: bool) -> std::io::Result<()> {
        self.before_replies(end_of_pass && (self.queued() > 0 || !self.pending.is_empty()))
            .await;
        let mut pending = std::mem::take(&mut self.pending);
        for w in pending.drain(..) {
            let mut failed = None;
            let mut commits = w.commits;
            match w.staged.as_deref().map(StagedTicket::result) {
                None => {}
                Some(Some(Ok(c))) => commits.push(c),
                Some(Some(Err(msg))) => failed = Some(msg),
                Some(None) => failed = Some("ERR the journal record was not written".into()),
            }
            for c in commits {
                if let Err(e) = c.inline_when_alone().await {
                    failed = Some(EngineError::from(e).to_string());
                }
            }
            let Some(frame) = w.frame else {
                continue;
            };
            match failed {
                Some(msg) => self.encode(Frame::error(msg)),
                None => self.encode(frame),
            }
        }
        // Nothing queued meanwhile (encoding queues bytes, not waits).
        self.pending = pending;
        let n = self.queued();
        if n == 0 {
            return Ok(());
        }
        self.client
            .info
            .output_bytes
            .store(n as u64, Ordering::Relaxed);
        let soft = self.shared.hot.out_soft.load(Ordering::Relaxed);
        let secs = self.shared.hot.out_secs.load(Ordering::Relaxed);
        if soft > 0 && n as u64 > soft && secs > 0 {
            match tokio::time::timeout(Duration::from_secs(secs), self.write_queued()).await {
                Ok(r) => r?,
                Err(_) => {
                    self.shared
                        .stats
                        .output_limit_disconnections
                        .fetch_add(1, Ordering::Relaxed);
                    return Err(std::io::Error::other(
                        "output buffer over the soft limit for too long",
                    ));
                }
            }
        } else {
            self.write_queued().await?;
        }
        self.client.info.output_bytes.store(0, Ordering::Relaxed);
        self.shared
            .stats
            .net_output_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
        self.out.clear();
        Ok(())
    }

    /// Before any reply goes out, the ops staged so far are journaled,
    /// as Redis writes its AOF buffer before the replies of an event-loop
    /// pass: this client's, and any another client left that this one
    /// may have read. It first lets the other connections ready now run
    /// and stage theirs, so that one record and one write serve them all;
    /// so too before waiting for a commit under `always`, so that the
    /// others' appends join its fdatasync (on one thread, a connection
    /// that synced at once would sync for itself alone, and hold up the
    /// rest meanwhile). At the `end_of_pass` it always yields.
    async fn before_replies(&mut self, end_of_pass: bool) {
        let engine = self.shared.engine();
        let waits = |p: &[Waiting]| {
            p.iter().any(|w| {
                w.staged.as_ref().is_some_and(|t| t.result().is_none())
                    || w.commits.iter().any(Commit::may_wait)
            })
        };
        if !end_of_pass && !engine.has_staged() && !waits(&self.pending) {
            return;
        }
        tokio::task::yield_now().await;
        // Another connection may have written this one's ops meanwhile:
        // what was staged since is its connections' to write, before their
        // own replies (one write per round, as Redis's once per pass). A
        // reply without a ticket may have read what is staged: it is
        // written first.
        let covered = self.queued() == 0
            && !self.pending.is_empty()
            && self
                .pending
                .iter()
                .all(|w| w.staged.as_ref().is_some_and(|t| t.result().is_some()));
        if covered {
            return;
        }
        if let Err(e) = engine.flush_staged() {
            // The tickets carry it to the replies.
            tracing::debug!(client = self.client.info.id, "journal write failed: {e}");
        }
    }

    fn unwatch_all(&mut self) {
        for (db, key, _) in std::mem::take(&mut self.client.watching) {
            self.shared.watched.unwatch(db, &key);
        }
    }
}
