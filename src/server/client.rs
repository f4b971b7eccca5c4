//! A connected client: what other connections may see of it
//! ([`ClientInfo`], for CLIENT LIST and KILL) and what only its own
//! connection touches ([`ClientState`]).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use super::shared::lock;
use crate::engine::pubsub::{Inbox, PubSub, Space};
use crate::resp::frame::Protocol;

/// A client as other connections see it.
pub struct ClientInfo {
    /// CLIENT ID.
    pub id: u64,
    /// The peer's address.
    pub addr: SocketAddr,
    /// Our end's address.
    pub laddr: SocketAddr,
    /// When it connected.
    pub created: Instant,
    /// CLIENT SETNAME.
    pub name: Mutex<Bytes>,
    /// CLIENT SETINFO LIB-NAME and LIB-VER.
    pub lib: Mutex<(Bytes, Bytes)>,
    /// Selected database.
    pub db: AtomicUsize,
    /// Milliseconds since `created` of its last command.
    pub last_ms: AtomicU64,
    /// The last command: its index in the command table, `usize::MAX`
    /// for none yet.
    pub last_cmd: AtomicUsize,
    /// 2 or 3.
    pub resp: AtomicU64,
    /// Blocked in XREAD or XREADGROUP.
    pub blocked: AtomicBool,
    /// In MULTI.
    pub multi: AtomicBool,
    /// Bytes of replies waiting to be written.
    pub output_bytes: AtomicU64,
    /// Set by CLIENT KILL; the connection closes at the next chance.
    pub killed: AtomicBool,
    /// Wakes the connection for a kill.
    pub kill: Notify,
    /// CLIENT UNBLOCK: Some(true) to answer an error, Some(false) a
    /// timeout.
    pub unblock: Mutex<Option<bool>>,
    /// Wakes a blocked read for CLIENT UNBLOCK.
    pub unblocked: Notify,
    /// Channels, patterns and shard channels subscribed to.
    pub subs: [AtomicUsize; 3],
}

impl ClientInfo {
    /// A new client.
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            created: Instant::now(),
            name: Mutex::new(Bytes::new()),
            lib: Mutex::new((Bytes::new(), Bytes::new())),
            db: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            last_cmd: AtomicUsize::new(usize::MAX),
            resp: AtomicU64::new(2),
            blocked: AtomicBool::new(false),
            multi: AtomicBool::new(false),
            output_bytes: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
            unblock: Mutex::new(None),
            unblocked: Notify::new(),
            subs: Default::default(),
        }
    }

    /// Asks the connection to close.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        // Every waiter: the connection's loop waits for a kill the whole
        // time, and a blocked command besides. The permit is for a waiter
        // that is yet to come.
        self.kill.notify_waiters();
        self.kill.notify_one();
    }

    /// The client's line in CLIENT LIST and CLIENT INFO.
    pub fn line(&self) -> String {
        let now = self.created.elapsed();
        let last = self.last_ms.load(Ordering::Relaxed);
        let idle = (now.as_millis() as u64).saturating_sub(last) / 1000;
        let mut flags = String::new();
        if self.blocked.load(Ordering::Relaxed) {
            flags.push('b');
        }
        if self.multi.load(Ordering::Relaxed) {
            flags.push('x');
        }
        let subs = self.subs.each_ref().map(|n| n.load(Ordering::Relaxed));
        if subs.iter().any(|n| *n > 0) {
            flags.push('P');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let name = lock(&self.name).clone();
        let (lib_name, lib_ver) = lock(&self.lib).clone();
        format!(
            "id={} addr={} laddr={} fd=0 name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            String::from_utf8_lossy(&name),
            now.as_secs(),
            idle,
            flags,
            self.db.load(Ordering::Relaxed),
            subs[0],
            subs[1],
            subs[2],
            if self.multi.load(Ordering::Relaxed) {
                0
            } else {
                -1
            },
            self.output_bytes.load(Ordering::Relaxed),
            super::cmd::table::COMMANDS
                .get(self.last_cmd.load(Ordering::Relaxed))
                .map_or("NULL", |c| c.name)
                .to_ascii_lowercase(),
            self.resp.load(Ordering::Relaxed),
            String::from_utf8_lossy(&lib_name),
            String::from_utf8_lossy(&lib_ver),
        )
    }
}

/// CLIENT REPLY's modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Every reply is sent.
    On,
    /// No reply is sent.
    Off,
    /// The next command's reply is not sent.
    Skip,
}

/// A command queued by MULTI.
pub struct Queued {
    /// Index in the command table.
    pub cmd: usize,
    /// Its arguments, name included.
    pub args: Vec<Bytes>,
}

/// The connection's own view of its client.
pub struct ClientState {
    /// Shared part.
    pub info: std::sync::Arc<ClientInfo>,
    /// Selected database.
    pub db: usize,
    /// RESP2 or RESP3.
    pub protocol: Protocol,
    /// Authenticated (always true without requirepass).
    pub authenticated: bool,
    /// CLIENT REPLY mode.
    pub reply: ReplyMode,
    /// The commands queued since MULTI, or `None` outside MULTI.
    pub multi: Option<Vec<Queued>>,
    /// A command refused while queuing: EXEC answers EXECABORT.
    pub multi_dirty: bool,
    /// WATCHed keys and the version each had.
    pub watching: Vec<(usize, Bytes, u64)>,
    /// The watch epoch when the first key was watched.
    pub watch_epoch: u64,
    /// The reply of the command running now is not sent (CLIENT REPLY OFF
    /// and SKIP themselves).
    pub suppress_reply: bool,
    /// Pub/Sub subscriptions.
    pub subs: Subs,
}

/// A client's Pub/Sub subscriptions and the inbox their messages arrive
/// in.
#[derive(Default)]
pub struct Subs {
    /// Created at the first subscription.
    pub inbox: Option<Inbox>,
    /// Channels, patterns, shard channels (indexed by [`Subs::slot`]).
    pub names: [HashSet<Bytes>; 3],
}

impl Subs {
    /// The set of `space`.
    pub fn slot(space: Space) -> usize {
        match space {
            Space::Channel => 0,
            Space::Pattern => 1,
            Space::Shard => 2,
        }
    }

    /// The count a (un)subscribe reply in `space` gives: channels and
    /// patterns together, shard channels apart, as Redis counts them.
    pub fn count(&self, space: Space) -> usize {
        match space {
            Space::Shard => self.names[2].len(),
            _ => self.names[0].len() + self.names[1].len(),
        }
    }

    /// True with any subscription: in RESP2 the client is then in
    /// subscribed mode.
    pub fn active(&self) -> bool {
        self.names.iter().any(|n| !n.is_empty())
    }

    /// Leaves every subscription (the connection ends, RESET).
    pub fn clear(&mut self, pubsub: &PubSub, info: &ClientInfo) {
        for space in [Space::Channel, Space::Pattern, Space::Shard] {
            for name in std::mem::take(&mut self.names[Self::slot(space)]) {
                pubsub.unsubscribe(space, &name, info.id);
            }
            info.subs[Self::slot(space)].store(0, Ordering::Relaxed);
        }
    }
}

impl ClientState {
    /// A fresh client, authenticated when no password is set.
    pub fn new(info: std::sync::Arc<ClientInfo>, authenticated: bool) -> ClientState {
        ClientState {
            info,
            db: 0,
            protocol: Protocol::Resp2,
            authenticated,
            reply: ReplyMode::On,
            multi: None,
            multi_dirty: false,
            watching: Vec::new(),
            watch_epoch: 0,
            suppress_reply: false,
            subs: Subs::default(),
        }
    }
}
