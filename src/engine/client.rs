//! The embedded, Kafka-like API: produce to a stream, poll it from a
//! position, and consume it within a group (poll, commit, claim), with the
//! semantics of Redis Streams. Streams live in database 0.
//!
//! ```
//! use bytes::Bytes;
//! use brook::engine::client::{Consumer, Position};
//! use brook::engine::keyspace::{Engine, EngineConfig};
//! use brook::engine::id::StreamId;
//!
//! let dir = tempfile::tempdir()?;
//! let engine = std::sync::Arc::new(Engine::open(dir.path(), EngineConfig::default())?);
//! let f = |v: &str| vec![(Bytes::from_static(b"v"), Bytes::from(v.to_string()))];
//! // Optimistic concurrency: append only if the stream is where we saw it.
//! let a = engine.produce(b"orders", &f("created"), Some(StreamId::MIN))?;
//! engine.produce(b"orders", &f("paid"), Some(a))?;
//! assert!(engine.produce(b"orders", &f("dup"), Some(a)).is_err());
//!
//! let mut c = Consumer::new(engine.clone(), b"orders", Position::Beginning);
//! let batch = c.poll(10)?;
//! assert_eq!(batch.len(), 2);
//! assert!(c.poll(10)?.is_empty()); // the position moved past them
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::entry::StreamEntry;
use super::groups::{GroupRead, GroupStart};
use super::id::{AddId, StreamId};
use super::keyspace::{Engine, now_ms};
use super::stream::wait_all;
use crate::error::EngineError;

/// Where a consumer reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// From the first entry.
    Beginning,
    /// After this ID.
    After(StreamId),
    /// From the first entry added at or after this Unix time in ms (IDs are
    /// times).
    Time(u64),
    /// Only entries added from now on.
    End,
}

impl Engine {
    /// Appends an entry to `key` (created if missing) and returns its ID
    /// once it is durable under the stream's policy. With `expected`, the
    /// append happens only if the stream's top ID is that one (0-0 for a
    /// stream never written); otherwise it fails with
    /// [`EngineError::Conflict`] carrying the actual top ID.
    pub fn produce(
        &self,
        key: &[u8],
        fields: &[(Bytes, Bytes)],
        expected: Option<StreamId>,
    ) -> Result<StreamId, EngineError> {
        let s = self.stream_or_create(0, key)?;
        let (id, commits) = s.add(
            AddId::Auto,
            fields,
            None,
            expected,
            now_ms(),
            self.node_limits(),
        )?;
        wait_all(commits)?;
        self.watches.notify(0, key);
        Ok(id)
    }

    /// Up to `max` entries of `key` after `after`.
    pub fn poll_after(
        &self,
        key: &[u8],
        after: StreamId,
        max: usize,
    ) -> Result<Vec<StreamEntry>, EngineError> {
        match self.stream(0, key)? {
            Some(s) => s.read_after(after, Some(max)),
            None => Ok(Vec::new()),
        }
    }
}

/// A consumer that tracks its own position (like a Kafka consumer with
/// manual offsets, or XREAD).
pub struct Consumer {
    engine: Arc<Engine>,
    key: Bytes,
    pos: StreamId,
}

impl Consumer {
    /// A consumer of `key` starting at `from`.
    pub fn new(engine: Arc<Engine>, key: &[u8], from: Position) -> Consumer {
        let mut c = Consumer {
            engine,
            key: Bytes::copy_from_slice(key),
            pos: StreamId::MIN,
        };
        c.seek(from);
        c
    }

    /// Moves the position.
    pub fn seek(&mut self, to: Position) {
        self.pos = match to {
            Position::Beginning => StreamId::MIN,
            Position::After(id) => id,
            Position::Time(ms) => StreamId::new(ms, 0).prev().unwrap_or(StreamId::MIN),
            Position::End => match self.engine.stream(0, &self.key) {
                Ok(Some(s)) => s.last_id(),
                _ => StreamId::MIN,
            },
        };
    }

    /// The ID of the last entry returned (or the seek position).
    pub fn position(&self) -> StreamId {
        self.pos
    }

    /// Up to `max` entries after the position; the position moves past
    /// them.
    pub fn poll(&mut self, max: usize) -> Result<Vec<StreamEntry>, EngineError> {
        let got = self.engine.poll_after(&self.key, self.pos, max)?;
        if let Some(last) = got.last() {
            self.pos = last.id;
        }
        Ok(got)
    }

    /// Like [`Consumer::poll`], but waits up to `timeout` for an entry when
    /// there is none.
    pub fn poll_wait(
        &mut self,
        max: usize,
        timeout: Duration,
    ) -> Result<Vec<StreamEntry>, EngineError> {
        let w = self.engine.watches.watch(0, &self.key);
        let got = self.poll(max)?;
        if !got.is_empty() || !w.wait_timeout(timeout) {
            return Ok(got);
        }
        self.poll(max)
    }
}

/// A member of a consumer group: polls entries never delivered to the
/// group, commits (acknowledges) them, and claims entries other members
/// left pending too long. Delivery is at least once.
pub struct GroupConsumer {
    engine: Arc<Engine>,
    key: Bytes,
    group: Bytes,
    name: Bytes,
}

impl GroupConsumer {
    /// Joins `group` on `key` as `name`, creating the stream and the group
    /// (reading from `start`) when missing.
    pub fn join(
        engine: Arc<Engine>,
        key: &[u8],
        group: &[u8],
        name: &[u8],
        start: GroupStart,
    ) -> Result<GroupConsumer, EngineError> {
        let s = engine.stream_or_create(0, key)?;
        let group = Bytes::copy_from_slice(group);
        match s.create_group(&group, start, None) {
            Ok(c) => wait_all(c)?,
            Err(EngineError::BusyGroup) => {}
            Err(e) => return Err(e),
        }
        Ok(GroupConsumer {
            engine,
            key: Bytes::copy_from_slice(key),
            group,
            name: Bytes::copy_from_slice(name),
        })
    }

    /// Up to `max` new entries, now pending for this consumer.
    pub fn poll(&self, max: usize) -> Result<Vec<StreamEntry>, EngineError> {
        let s = self.engine.stream_or_create(0, &self.key)?;
        let (got, c) = s.read_group(
            &self.key,
            &self.group,
            &self.name,
            GroupRead::New,
            Some(max),
            false,
            now_ms(),
        )?;
        wait_all(c)?;
        Ok(got
            .into_iter()
            .filter_map(|(id, f)| f.map(|fields| StreamEntry { id, fields }))
            .collect())
    }

    /// Acknowledges entries; returns how many were pending.
    pub fn commit(&self, ids: &[StreamId]) -> Result<u64, EngineError> {
        let s = self.engine.stream_or_create(0, &self.key)?;
        let (n, c) = s.ack(&self.group, ids)?;
        wait_all(c)?;
        Ok(n)
    }

    /// Takes over up to `max` entries pending for at least `min_idle`
    /// (with any member), scanning the whole PEL.
    pub fn claim_idle(
        &self,
        min_idle: Duration,
        max: u64,
    ) -> Result<Vec<StreamEntry>, EngineError> {
        let s = self.engine.stream_or_create(0, &self.key)?;
        let (r, c) = s.auto_claim(
            &self.key,
            &self.group,
            &self.name,
            min_idle.as_millis() as u64,
            StreamId::MIN,
            max,
            false,
            now_ms(),
        )?;
        wait_all(c)?;
        Ok(r.claimed
            .into_iter()
            .filter_map(|(id, f)| f.map(|fields| StreamEntry { id, fields }))
            .collect())
    }
}
