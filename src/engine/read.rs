//! XREAD and XREADGROUP over several keys, as one engine call.

use bytes::Bytes;

use super::entry::StreamEntry;
use super::groups::{GroupRead, MaybeEntry};
use super::id::StreamId;
use super::keyspace::Engine;
use super::stream::Stream;
use crate::error::{EngineError, NoGroupForm};
use crate::storage::Commit;

/// XREADGROUP's answer: each key with its entries.
pub type GroupReply = Vec<(Bytes, Vec<MaybeEntry>)>;

/// Where XREAD reads a stream from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    /// Entries after this ID.
    After(StreamId),
    /// `$`: only entries added after the call (nothing, unless blocking).
    New,
    /// `+`: the stream's last entry (Redis 7.4); when the stream is empty,
    /// as `$`.
    Last,
}

/// XREAD's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadReply {
    /// Each key that had entries, in the order asked, with its entries.
    pub streams: Vec<(Bytes, Vec<StreamEntry>)>,
    /// For each key asked, the ID to read after when blocking and retrying:
    /// `$` and `+` resolved to the top ID at the time of the call.
    pub resume: Vec<StreamId>,
}

impl Engine {
    /// XREAD COUNT `count` STREAMS keys ids (`Some(0)` is no limit, as
    /// Redis takes COUNT 0). A missing key has no entries
    /// (its top counts as 0-0); a key of another type fails the whole call
    /// with WRONGTYPE before anything is read.
    pub fn read_streams(
        &self,
        db: usize,
        reqs: &[(Bytes, ReadFrom)],
        count: Option<usize>,
    ) -> Result<ReadReply, EngineError> {
        // COUNT 0 is no limit, as in Redis.
        let count = count.filter(|&c| c > 0);
        let mut streams = Vec::with_capacity(reqs.len());
        for (key, _) in reqs {
            streams.push(self.stream(db, key)?);
        }
        let mut out = Vec::new();
        let mut resume = Vec::with_capacity(reqs.len());
        for ((key, from), s) in reqs.iter().zip(streams) {
            let Some(s) = s else {
                resume.push(match from {
                    ReadFrom::After(id) => *id,
                    _ => StreamId::MIN,
                });
                continue;
            };
            let (entries, after) = match from {
                ReadFrom::After(id) => (s.read_after(*id, count)?, *id),
                ReadFrom::New => (Vec::new(), s.last_id()),
                ReadFrom::Last => {
                    let top = s.last_id();
                    (s.rev_range(StreamId::MAX, StreamId::MIN, Some(1))?, top)
                }
            };
            resume.push(after);
            if !entries.is_empty() {
                out.push((key.clone(), entries));
            }
        }
        Ok(ReadReply {
            streams: out,
            resume,
        })
    }

    /// XREADGROUP GROUP `group` `consumer` COUNT `count` [NOACK] STREAMS
    /// keys ids. Every key and group is checked before any is read (NOGROUP
    /// names the first missing one). A key read with `>` appears only when
    /// it returned entries; one read with an ID always appears, as Redis
    /// replies.
    #[allow(clippy::too_many_arguments)]
    pub fn read_group_streams(
        &self,
        db: usize,
        group: &Bytes,
        consumer: &Bytes,
        reqs: &[(Bytes, GroupRead)],
        count: Option<usize>,
        noack: bool,
        now_ms: u64,
    ) -> Result<(GroupReply, Vec<Commit>), EngineError> {
        let mut streams: Vec<std::sync::Arc<Stream>> = Vec::with_capacity(reqs.len());
        for (key, _) in reqs {
            let no_group = || EngineError::no_group(key, group, NoGroupForm::ReadGroup);
            let s = self.stream(db, key)?.ok_or_else(no_group)?;
            if !s.has_group(group) {
                return Err(no_group());
            }
            streams.push(s);
        }
        let mut out = Vec::new();
        let mut commits = Vec::new();
        for ((key, read), s) in reqs.iter().zip(streams) {
            let (entries, c) = s.read_group(key, group, consumer, *read, count, noack, now_ms)?;
            commits.extend(c);
            if !entries.is_empty() || matches!(read, GroupRead::Pending(_)) {
                out.push((key.clone(), entries));
            }
        }
        Ok((out, commits))
    }
}
