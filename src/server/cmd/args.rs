//! What every command file uses: the argument cursor, the error type, the
//! outcome of a command and the context it runs in.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::engine::id::StreamId;
use crate::engine::keyspace::{Engine, MemBatch, MemTxn};
use crate::error::EngineError;
use crate::resp::frame::Frame;
use crate::server::blocking::{BlockSpec, Ready};
use crate::server::client::ClientState;
use crate::server::shared::Shared;
use crate::storage::Commit;

/// An error reply; the text starts with its code (`ERR`, `WRONGTYPE`…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub String);

impl From<EngineError> for CmdError {
    fn from(e: EngineError) -> CmdError {
        CmdError(e.to_string())
    }
}

impl CmdError {
    /// `ERR syntax error`.
    pub fn syntax() -> CmdError {
        CmdError("ERR syntax error".into())
    }

    /// `ERR value is not an integer or out of range`.
    pub fn not_int() -> CmdError {
        CmdError("ERR value is not an integer or out of range".into())
    }

    /// An `ERR` reply with this text.
    pub fn err(text: impl std::fmt::Display) -> CmdError {
        CmdError(format!("ERR {text}"))
    }
}

/// What a command leads to.
pub enum Outcome {
    /// A reply.
    Reply(Frame),
    /// A reply to send once these commits are durable.
    Durable(Frame, Vec<Commit>),
    /// A blocking read that found nothing: the connection waits.
    Block(Box<BlockSpec>),
    /// A reply, then the connection closes (QUIT).
    Close(Frame),
    /// Sleep, then reply (DEBUG SLEEP).
    Sleep(Duration, Frame),
    /// The server stops (SHUTDOWN).
    Shutdown,
    /// Sync and reopen the engine, then reply OK (DEBUG RELOAD).
    Reload,
}

impl Outcome {
    /// `frame`, sent once `commit` (if any) is durable.
    pub fn after(frame: Frame, commit: Option<Commit>) -> Outcome {
        match commit {
            Some(c) => Outcome::Durable(frame, vec![c]),
            None => Outcome::Reply(frame),
        }
    }
}

impl From<Frame> for Outcome {
    fn from(f: Frame) -> Outcome {
        Outcome::Reply(f)
    }
}

/// The result of a command.
pub type CmdResult = Result<Outcome, CmdError>;

/// What a command runs with.
pub struct Ctx<'a> {
    /// Server-wide state.
    pub shared: &'a Arc<Shared>,
    /// The engine.
    pub engine: &'a Engine,
    /// The calling client.
    pub client: &'a mut ClientState,
    /// Inside EXEC: blocking reads answer at once.
    pub in_exec: bool,
    /// Milliseconds since the epoch when the command started.
    pub now_ms: u64,
    /// When the command started; once it ran, when it ended (the next
    /// command's start, so that each costs one reading of the clock).
    pub clock: std::time::Instant,
    /// Keys written to, whose blocked clients are served once the command
    /// (or the whole EXEC) is over, as Redis serves them.
    pub ready: Vec<Ready>,
    /// A pipeline of list commands run as one batch (see
    /// [`Ctx::mem`]).
    pub batch: Option<MemBatch<'a>>,
}

impl Ctx<'_> {
    /// Runs `f` on the lists and strings of the client's database, as
    /// [`Engine::mem`] does, or inside the batch when one runs (its commit
    /// is then the batch's, given when it ends).
    pub fn mem<R>(
        &mut self,
        f: impl FnOnce(&mut MemTxn<'_>) -> Result<R, EngineError>,
    ) -> Result<(R, Option<Commit>), EngineError> {
        let db = self.client.db;
        match &mut self.batch {
            Some(b) => Ok((b.run(db, f)?, None)),
            None => self.engine.mem(db, f),
        }
    }

    /// The client's database.
    pub fn db(&self) -> usize {
        self.client.db
    }

    /// Marks `key` as written to by commits `after`: the clients blocked
    /// on it are served when the command is over (their replies wait for
    /// the commits).
    pub fn wake(&mut self, key: &[u8], after: &[Commit]) {
        self.wake_in(self.client.db, key, after);
    }

    /// [`Ctx::wake`] for a key of database `db`.
    pub fn wake_in(&mut self, db: usize, key: &[u8], after: &[Commit]) {
        if !self.shared.blocked.is_empty() {
            self.ready
                .push((db, Bytes::copy_from_slice(key), after.to_vec()));
        }
    }

    /// Publishes keyspace event `event` (of `class`, see
    /// [`crate::server::events`]) on `key` of the client's database.
    pub fn notify(&self, class: u32, event: &str, key: &[u8]) {
        crate::server::events::emit(self.shared, class, event, self.client.db, key);
    }

    /// [`Ctx::notify`] for a list change that may have emptied the list
    /// (then `del` follows).
    pub fn notify_list(&mut self, event: &str, key: &[u8]) {
        let db = self.client.db;
        let (shared, engine, batch) = (self.shared, self.engine, &mut self.batch);
        // Inside a batch the keyspace is the batch's (notifications may
        // have been switched on while it ran).
        crate::server::events::emit_list_with(shared, event, db, key, || match batch {
            Some(b) => matches!(b.run(db, |m| Ok(m.kind(key)?.is_none())), Ok(true)),
            None => matches!(engine.key_type(db, key), Ok(None)),
        });
    }

    /// Whether replies use RESP3.
    pub fn resp3(&self) -> bool {
        self.client.protocol == crate::resp::frame::Protocol::Resp3
    }
}

/// The arguments of one command, read front to back. The command's name is
/// not among them.
pub struct Args {
    items: Vec<Bytes>,
    pos: usize,
}

/// Parses a decimal i64 as Redis's `string2ll` does (the request
/// parser's reading of counts).
pub use crate::resp::parse::parse_i64;

impl Args {
    /// The arguments after the name (`items[0]`).
    pub fn new(items: Vec<Bytes>) -> Args {
        Args { items, pos: 1 }
    }

    /// The arguments back, name first.
    pub fn into_argv(self) -> Vec<Bytes> {
        self.items
    }

    /// Every argument, name first.
    pub fn argv(&self) -> &[Bytes] {
        &self.items
    }

    /// Arguments not read yet.
    pub fn left(&self) -> usize {
        self.items.len().saturating_sub(self.pos)
    }

    /// The next argument, or a syntax error.
    pub fn need(&mut self) -> Result<Bytes, CmdError> {
        self.next().ok_or_else(CmdError::syntax)
    }

    /// The next argument without taking it.
    pub fn peek(&self) -> Option<&Bytes> {
        self.items.get(self.pos)
    }

    /// Takes the next argument if it is `word` (any case).
    pub fn eat(&mut self, word: &str) -> bool {
        match self.peek() {
            Some(b) if b.eq_ignore_ascii_case(word.as_bytes()) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// Every argument not read yet.
    pub fn rest(&mut self) -> Vec<Bytes> {
        let out = self.items[self.pos.min(self.items.len())..].to_vec();
        self.pos = self.items.len();
        out
    }

    /// The next argument as an i64.
    pub fn i64(&mut self) -> Result<i64, CmdError> {
        let b = self.need()?;
        parse_i64(&b).ok_or_else(CmdError::not_int)
    }

    /// The next argument as a non-negative integer, with `err` when it is
    /// negative.
    pub fn u64_or(&mut self, err: &str) -> Result<u64, CmdError> {
        let n = self.i64()?;
        u64::try_from(n).map_err(|_| CmdError(err.to_string()))
    }

    /// The next argument as a stream ID (`ms` or `ms-seq`).
    pub fn id(&mut self) -> Result<StreamId, CmdError> {
        let b = self.need()?;
        StreamId::parse(&b, 0).ok_or_else(|| EngineError::InvalidId.into())
    }

    /// A syntax error unless every argument was read.
    pub fn end(&self) -> Result<(), CmdError> {
        if self.left() == 0 {
            Ok(())
        } else {
            Err(CmdError::syntax())
        }
    }
}

impl Iterator for Args {
    type Item = Bytes;

    /// The next argument.
    fn next(&mut self) -> Option<Bytes> {
        let b = self.items.get(self.pos)?.clone();
        self.pos += 1;
        Some(b)
    }
}

/// A bulk string frame of UTF-8 text.
pub fn bulk_str(s: &str) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// A simple-string frame.
pub fn simple(s: &'static str) -> Frame {
    Frame::Simple(Bytes::from_static(s.as_bytes()))
}

/// An array of bulk strings.
pub fn bulk_array(items: impl IntoIterator<Item = Bytes>) -> Frame {
    Frame::Array(items.into_iter().map(Frame::Bulk).collect())
}

#[cfg(test)]
mod tests {
    use super::parse_i64;

    #[test]
    fn integers_as_redis_reads_them() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"007",
            b"00",
            b"-0",
            b" 1",
            b"1.5",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
