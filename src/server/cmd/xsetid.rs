//! XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
//!
//! The arguments are checked before the key is looked up, as in Redis 7.

use crate::server::events as ev;
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use crate::engine::id::StreamId;
use crate::error::EngineError;
use crate::resp::frame::Frame;

/// XSETID: sets a stream's top ID and counters.
#[derive(Debug, PartialEq)]
pub struct XSetId {
    key: Bytes,
    last: StreamId,
    entries_added: Option<u64>,
    max_deleted: Option<StreamId>,
}

impl XSetId {
    /// # Format
    ///
    /// `XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id]`, the options
    /// in any order and repeatable (the last counts).
    pub fn parse(args: &mut Args) -> Result<XSetId, CmdError> {
        let key = args.need()?;
        let last = args.id()?;
        let (mut entries_added, mut max_deleted) = (None, None);
        while let Some(opt) = args.next() {
            if args.left() == 0 {
                return Err(CmdError::syntax());
            }
            if opt.eq_ignore_ascii_case(b"ENTRIESADDED") {
                entries_added = Some(args.u64_or("ERR entries_added must be positive")?);
            } else if opt.eq_ignore_ascii_case(b"MAXDELETEDID") {
                let id = args.id()?;
                if last < id {
                    return Err(EngineError::SetIdBelowMaxDeleted.into());
                }
                max_deleted = Some(id);
            } else {
                return Err(CmdError::syntax());
            }
        }
        Ok(XSetId {
            key,
            last,
            entries_added,
            max_deleted,
        })
    }

    /// OK once durable; `ERR no such key` for a missing key.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let Some(s) = ctx.engine.stream(ctx.db(), &self.key)? else {
            return Err(EngineError::NoSuchKey.into());
        };
        let commits = s.set_id(self.last, self.entries_added, self.max_deleted)?;
        ctx.notify(ev::STREAM, "xsetid", &self.key);
        Ok(Outcome::Durable(Frame::ok(), commits))
    }
}

/// Runs XSETID.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XSetId::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<XSetId, String> {
        let items = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        XSetId::parse(&mut Args::new(items)).map_err(|e| e.0)
    }

    #[test]
    fn options() {
        let x = parse("XSETID s 9 entriesadded 1 ENTRIESADDED 10 MAXDELETEDID 8-0").unwrap();
        assert_eq!(x.last, StreamId::new(9, 0));
        assert_eq!(
            (x.entries_added, x.max_deleted),
            (Some(10), Some(StreamId::new(8, 0)))
        );
    }

    #[test]
    fn errors_in_redis_order() {
        let e = |l| parse(l).err().unwrap_or_default();
        assert_eq!(
            e("XSETID s -"),
            "ERR Invalid stream ID specified as stream command argument"
        );
        assert_eq!(e("XSETID s 1 ENTRIESADDED"), "ERR syntax error");
        assert_eq!(e("XSETID s 1 foo 1"), "ERR syntax error");
        assert_eq!(
            e("XSETID s 1 ENTRIESADDED -1"),
            "ERR entries_added must be positive"
        );
        // Checked as it is read, before a later syntax error.
        assert_eq!(
            e("XSETID s 1-0 MAXDELETEDID 2-0 foo"),
            "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
        );
    }
}
