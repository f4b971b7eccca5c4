//! XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, parse_i64};
use super::reply;
use super::xgroup::group_stream;
use crate::engine::groups::PendingQuery;
use crate::engine::id::{RangeEnd, parse_range_bound};
use crate::error::NoGroupForm;
use crate::resp::frame::Frame;

/// XPENDING.
pub struct XPending {
    key: Bytes,
    group: Bytes,
    /// The extended form's filters; `None` for the summary.
    range: Option<PendingQuery>,
}

impl XPending {
    /// # Format
    ///
    /// `key group` for the summary, or `key group [IDLE ms] start end count
    /// [consumer]`. As in Redis 7.0, up to two arguments after the
    /// consumer are ignored, a negative count is 0 and a negative IDLE is
    /// none; the count is checked before the IDs.
    pub fn parse(args: &mut Args) -> Result<XPending, CmdError> {
        let argc = args.argv().len();
        if argc != 3 && !(6..=9).contains(&argc) {
            return Err(CmdError::syntax());
        }
        let (key, group) = (args.need()?, args.need()?);
        if argc == 3 {
            return Ok(XPending {
                key,
                group,
                range: None,
            });
        }
        let mut min_idle_ms = None;
        if args.eat("IDLE") {
            let idle = args.i64()?;
            if argc < 8 {
                return Err(CmdError::syntax());
            }
            min_idle_ms = u64::try_from(idle).ok().filter(|&m| m > 0);
        }
        let (start, end, count) = (args.need()?, args.need()?, args.need()?);
        let count = parse_i64(&count).ok_or_else(CmdError::not_int)?.max(0);
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        let start = parse_range_bound(&start, RangeEnd::Start)?;
        let end = parse_range_bound(&end, RangeEnd::End)?;
        let consumer = args.next();
        args.rest();
        let range = Some(PendingQuery {
            min_idle_ms,
            start,
            end,
            count,
            consumer,
        });
        Ok(XPending { key, group, range })
    }

    /// The group's pending entries, summed up or listed.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let s = group_stream(ctx, &self.key, &self.group, NoGroupForm::KeyOrGroup)?;
        let int = |n: u64| Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        let Some(q) = self.range else {
            let p = s.pending_summary(&self.key, &self.group)?;
            let Some((lo, hi)) = p.bounds else {
                let none = vec![int(p.count), Frame::Null, Frame::Null, Frame::NullArray];
                return Ok(Frame::Array(none).into());
            };
            let consumers = p.consumers.into_iter().map(|(name, n)| {
                let n = Frame::Bulk(Bytes::from(n.to_string()));
                Frame::Array(vec![Frame::Bulk(name), n])
            });
            let consumers = Frame::Array(consumers.collect());
            return Ok(
                Frame::Array(vec![int(p.count), reply::id(lo), reply::id(hi), consumers]).into(),
            );
        };
        let rows = s.pending_range(&self.key, &self.group, &q, ctx.now_ms)?;
        let rows = rows.into_iter().map(|r| {
            Frame::Array(vec![
                reply::id(r.id),
                Frame::Bulk(r.consumer),
                int(r.idle_ms),
                int(r.deliveries),
            ])
        });
        Ok(Frame::Array(rows.collect()).into())
    }
}

/// Runs XPENDING.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XPending::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::super::xread::test_args;
    use super::*;
    use crate::engine::id::StreamId;

    fn parse(line: &str) -> Result<XPending, CmdError> {
        XPending::parse(&mut test_args(&format!("XPENDING {line}")))
    }

    #[test]
    fn forms() {
        assert!(parse("k g").unwrap().range.is_none());
        let q = parse("k g IDLE 10 (1 2 -5 c").unwrap().range.unwrap();
        assert_eq!((q.min_idle_ms, q.count), (Some(10), 0));
        assert_eq!(
            (q.start, q.end),
            (StreamId::new(1, 1), StreamId::new(2, u64::MAX))
        );
        assert_eq!(q.consumer, Some(Bytes::from("c")));
        let q = parse("k g - + 10 c x y").unwrap().range.unwrap();
        assert_eq!(
            (q.min_idle_ms, q.start, q.end),
            (None, StreamId::MIN, StreamId::MAX)
        );
        assert_eq!(
            parse("k g IDLE -5 - + 1")
                .unwrap()
                .range
                .unwrap()
                .min_idle_ms,
            None
        );
    }

    #[test]
    fn errors() {
        for (line, want) in [
            ("k g - +", "ERR syntax error"),
            ("k g - + 10 c x y z", "ERR syntax error"),
            ("k g IDLE 10 - +", "ERR syntax error"),
            (
                "k g IDLE x - + 1",
                "ERR value is not an integer or out of range",
            ),
            ("k g zz + x", "ERR value is not an integer or out of range"),
            (
                "k g zz + 1",
                "ERR Invalid stream ID specified as stream command argument",
            ),
            (
                "k g (18446744073709551615-18446744073709551615 + 1",
                "ERR invalid start ID for the interval",
            ),
            ("k g - (0-0 1", "ERR invalid end ID for the interval"),
        ] {
            assert_eq!(
                parse(line).err().map(|e| e.0).as_deref(),
                Some(want),
                "{line}"
            );
        }
    }
}
