//! XREADGROUP GROUP group consumer [COUNT count] [BLOCK milliseconds]
//! [NOACK] STREAMS key [key ...] id [id ...]
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use super::reply;
use super::xgroup::group_stream;
use super::xread::{ReadArgs, block_or, parse_read};
use crate::engine::groups::GroupRead;
use crate::engine::id::StreamId;
use crate::error::{EngineError, NoGroupForm};
use crate::resp::frame::Frame;
use crate::server::blocking::BlockRead;

/// XREADGROUP.
pub struct XReadGroup {
    opts: ReadArgs,
    group: Bytes,
    consumer: Bytes,
    /// Each key's read; an error is reported after its key and group are
    /// checked, where Redis reports it.
    reads: Vec<Result<GroupRead, CmdError>>,
}

impl XReadGroup {
    /// # Format
    ///
    /// `GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key
    /// [key ...] id [id ...]`, options in any order, where an ID is `>` (new
    /// entries) or `ms[-seq]` (the consumer's pending entries after it).
    pub fn parse(args: &mut Args) -> Result<XReadGroup, CmdError> {
        let mut opts = parse_read(args, true)?;
        let (group, consumer) = opts.group.take().ok_or_else(CmdError::syntax)?;
        let reads = opts.ids.iter().map(group_read).collect();
        Ok(XReadGroup {
            opts,
            group,
            consumer,
            reads,
        })
    }

    /// Reads for the consumer; blocks when every ID is `>`, nothing came
    /// and BLOCK was given. The reply waits for the group's changes to be
    /// durable.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let (db, count, noack) = (ctx.db(), self.opts.count, self.opts.noack);
        let bad = self.reads.iter().any(Result::is_err);
        let mut reqs = Vec::with_capacity(self.reads.len());
        for (key, read) in self.opts.keys.into_iter().zip(self.reads) {
            if bad {
                group_stream(ctx, &key, &self.group, NoGroupForm::ReadGroup)?;
            }
            reqs.push((key, read?));
        }
        let (group, consumer) = (self.group, self.consumer);
        let (streams, commits) = ctx
            .engine
            .read_group_streams(db, &group, &consumer, &reqs, count, noack, ctx.now_ms)?;
        if !streams.is_empty() {
            return Ok(Outcome::Durable(
                reply::group_reply(streams, ctx.resp3()),
                commits,
            ));
        }
        // Nothing came, so every read was `>` (an ID read always answers);
        // such a read journals nothing to wait for when it blocks.
        let keys = reqs.into_iter().map(|(k, _)| k).collect();
        let read = BlockRead::Group {
            group,
            consumer,
            keys,
            count,
            noack,
        };
        block_or(
            ctx,
            self.opts.block_ms,
            read,
            Outcome::Durable(Frame::NullArray, commits),
        )
    }
}

fn group_read(id: &Bytes) -> Result<GroupRead, CmdError> {
    match id.as_ref() {
        b">" => Ok(GroupRead::New),
        b"$" => Err(CmdError::err(
            "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of \
             this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID \
             would just return an empty result set.",
        )),
        _ => StreamId::parse(id, 0)
            .map(GroupRead::Pending)
            .ok_or_else(|| EngineError::InvalidId.into()),
    }
}

/// Runs XREADGROUP.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XReadGroup::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::super::xread::test_args;
    use super::*;

    fn parse(line: &str) -> Result<XReadGroup, CmdError> {
        XReadGroup::parse(&mut test_args(&format!("XREADGROUP {line}")))
    }

    #[test]
    fn options_and_ids() {
        let r = parse("GROUP g c NOACK BLOCK 10 GROUP h d COUNT 3 STREAMS a b > 1-2").unwrap();
        assert_eq!((r.group, r.consumer), (Bytes::from("h"), Bytes::from("d")));
        assert_eq!(
            (r.opts.count, r.opts.block_ms, r.opts.noack),
            (Some(3), Some(10), true)
        );
        let pending = GroupRead::Pending(StreamId::new(1, 2));
        assert_eq!(r.reads, [Ok(GroupRead::New), Ok(pending)]);
        let dollar = parse("GROUP g c STREAMS a $").unwrap().reads.pop().unwrap();
        assert!(dollar.is_err_and(|e| e.0.starts_with("ERR The $ ID is meaningless")));
        assert!(parse("GROUP g c STREAMS a +").unwrap().reads[0].is_err());
    }

    #[test]
    fn errors() {
        for (line, want) in [
            (
                "COUNT 1 NOACK STREAMS a >",
                "ERR Missing GROUP option for XREADGROUP",
            ),
            (
                "GROUP g c STREAMS a b >",
                "ERR Unbalanced XREAD list of streams",
            ),
            ("GROUP g c FOO STREAMS a >", "ERR syntax error"),
            ("GROUP g STREAMS a >", "ERR syntax error"),
        ] {
            let e = parse(line).err().map(|e| e.0).unwrap_or_default();
            assert!(e.starts_with(want), "{line}: {e}");
        }
    }
}
