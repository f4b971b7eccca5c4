//! XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, parse_i64};
use super::reply;
use super::xgroup::group_stream;
use crate::engine::id::{RangeEnd, StreamId, parse_range_bound};
use crate::error::NoGroupForm;
use crate::resp::frame::Frame;

/// Redis's largest COUNT: `LONG_MAX / max(sizeof(streamID), 10)`.
const MAX_COUNT: i64 = i64::MAX / 16;

/// XAUTOCLAIM.
#[derive(Debug, PartialEq, Eq)]
pub struct XAutoClaim {
    key: Bytes,
    group: Bytes,
    consumer: Bytes,
    min_idle_ms: u64,
    start: StreamId,
    count: u64,
    just_id: bool,
}

impl XAutoClaim {
    /// # Format
    ///
    /// `key group consumer min-idle-time start [COUNT count] [JUSTID]`; the
    /// start is a range bound (`-`, `+`, `(id`), COUNT is 1 to 2^59-1 and
    /// defaults to 100, a negative min-idle-time is 0.
    pub fn parse(args: &mut Args) -> Result<XAutoClaim, CmdError> {
        let (key, group, consumer) = (args.need()?, args.need()?, args.need()?);
        let idle = parse_i64(&args.need()?);
        let idle =
            idle.ok_or_else(|| CmdError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?;
        let start = parse_range_bound(&args.need()?, RangeEnd::Start)?;
        let min_idle_ms = u64::try_from(idle).unwrap_or(0);
        let (mut count, mut just_id) = (100, false);
        while let Some(opt) = args.next() {
            if opt.eq_ignore_ascii_case(b"COUNT") && args.left() > 0 {
                let n = args.next().as_deref().and_then(parse_i64);
                let n = n
                    .filter(|n| (1..=MAX_COUNT).contains(n))
                    .and_then(|n| u64::try_from(n).ok());
                count = n.ok_or_else(|| CmdError::err("COUNT must be > 0"))?;
            } else if opt.eq_ignore_ascii_case(b"JUSTID") {
                just_id = true;
            } else {
                return Err(CmdError::syntax());
            }
        }
        Ok(XAutoClaim {
            key,
            group,
            consumer,
            min_idle_ms,
            start,
            count,
            just_id,
        })
    }

    /// Claims up to COUNT idle pending entries from `start` on: replies the
    /// next start (0-0 at the end), the claimed entries (or IDs) and the
    /// IDs of deleted entries dropped from the PEL.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let s = group_stream(ctx, &self.key, &self.group, NoGroupForm::KeyOrGroup)?;
        let (key, group, consumer) = (&self.key, &self.group, &self.consumer);
        let (min_idle, start, count) = (self.min_idle_ms, self.start, self.count);
        let (r, commits) = s.auto_claim(
            key,
            group,
            consumer,
            min_idle,
            start,
            count,
            self.just_id,
            ctx.now_ms,
        )?;
        let claimed = match self.just_id {
            true => r.claimed.iter().map(|e| reply::id(e.0)).collect(),
            false => r.claimed.iter().map(reply::maybe_entry).collect(),
        };
        let deleted = r.deleted.into_iter().map(reply::id).collect();
        let frame = Frame::Array(vec![
            reply::id(r.next),
            Frame::Array(claimed),
            Frame::Array(deleted),
        ]);
        Ok(Outcome::Durable(frame, commits))
    }
}

/// Runs XAUTOCLAIM.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XAutoClaim::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::super::xread::test_args;
    use super::*;

    fn parse(line: &str) -> Result<XAutoClaim, CmdError> {
        XAutoClaim::parse(&mut test_args(&format!("XAUTOCLAIM {line}")))
    }

    #[test]
    fn options() {
        let c = parse("k g c -5 (1 COUNT 5 JUSTID count 576460752303423487").unwrap();
        assert_eq!((c.min_idle_ms, c.start), (0, StreamId::new(1, 1)));
        assert_eq!((c.count, c.just_id), (576460752303423487, true));
        let c = parse("k g c 10 -").unwrap();
        assert_eq!(
            (c.min_idle_ms, c.start, c.count, c.just_id),
            (10, StreamId::MIN, 100, false)
        );
        assert_eq!(parse("k g c 0 +").unwrap().start, StreamId::MAX);
    }

    #[test]
    fn errors() {
        let invalid = "ERR Invalid stream ID specified as stream command argument";
        for (line, want) in [
            (
                "k g c x 0",
                "ERR Invalid min-idle-time argument for XAUTOCLAIM",
            ),
            ("k g c 0 zz", invalid),
            ("k g c 0 (+", invalid),
            (
                "k g c 0 (18446744073709551615-18446744073709551615",
                "ERR invalid start ID for the interval",
            ),
            ("k g c 0 0 COUNT 0", "ERR COUNT must be > 0"),
            ("k g c 0 0 COUNT x", "ERR COUNT must be > 0"),
            ("k g c 0 0 COUNT -1", "ERR COUNT must be > 0"),
            (
                "k g c 0 0 COUNT 576460752303423488",
                "ERR COUNT must be > 0",
            ),
            ("k g c 0 0 COUNT", "ERR syntax error"),
            ("k g c 0 0 FOO", "ERR syntax error"),
        ] {
            assert_eq!(
                parse(line).err().map(|e| e.0).as_deref(),
                Some(want),
                "{line}"
            );
        }
    }
}
