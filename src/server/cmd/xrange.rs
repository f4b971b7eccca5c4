//! XRANGE key start end [COUNT count] and XREVRANGE key end start [COUNT count]
//!
//! Bounds are IDs, `-` and `+`, or `(id` for an exclusive bound. COUNT 0 or
//! below answers a null array on an existing stream, as Redis 7 does.

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx};
use super::reply;
use crate::engine::id::{RangeEnd, StreamId, parse_range_bound};
use crate::resp::frame::Frame;

/// XRANGE and XREVRANGE: the entries between two IDs.
#[derive(Debug, PartialEq)]
pub struct XRange {
    key: Bytes,
    start: StreamId,
    end: StreamId,
    /// `None`: no COUNT; 0 also stands for a negative COUNT.
    count: Option<u64>,
    rev: bool,
}

impl XRange {
    /// # Format
    ///
    /// `XRANGE key start end [COUNT count]`, or with `rev`
    /// `XREVRANGE key end start [COUNT count]`. The start is read first, then
    /// the end, then COUNT (which may repeat; the last counts).
    pub fn parse(args: &mut Args, rev: bool) -> Result<XRange, CmdError> {
        let key = args.need()?;
        let (a, b) = (args.need()?, args.need()?);
        let (start, end) = if rev { (b, a) } else { (a, b) };
        let start = parse_range_bound(&start, RangeEnd::Start)?;
        let end = parse_range_bound(&end, RangeEnd::End)?;
        let mut count = None;
        while args.left() > 0 {
            if !(args.eat("COUNT") && args.left() > 0) {
                return Err(CmdError::syntax());
            }
            count = Some(args.i64()?.max(0) as u64);
        }
        Ok(XRange {
            key,
            start,
            end,
            count,
            rev,
        })
    }

    /// The entries, oldest first (newest first for XREVRANGE); an empty
    /// array for a missing key.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let Some(s) = ctx.engine.stream(ctx.db(), &self.key)? else {
            return Ok(Frame::Array(Vec::new()).into());
        };
        if self.count == Some(0) {
            return Ok(Frame::NullArray.into());
        }
        let count = self.count.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        if self.rev {
            let entries = s.rev_range(self.end, self.start, count)?;
            return Ok(reply::entries(&entries).into());
        }
        // Encoded as the records are read, with no entry built.
        let mut body = reply::array_body(4096);
        let n = s.range_each(self.start, self.end, count, &mut |e| {
            reply::put_visited(&mut body, e)
        })?;
        Ok(reply::raw_array(n, body).into())
    }
}

/// Runs XRANGE.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XRange::parse(&mut args, false)?.apply(ctx)
}

/// Runs XREVRANGE.
pub fn run_rev(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XRange::parse(&mut args, true)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str, rev: bool) -> Result<XRange, String> {
        let items = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        XRange::parse(&mut Args::new(items), rev).map_err(|e| e.0)
    }

    #[test]
    fn bounds_and_count() {
        let x = parse("XRANGE s (1-0 2 COUNT 5 count -3", false).unwrap();
        assert_eq!(
            (x.start, x.end),
            (StreamId::new(1, 1), StreamId::new(2, u64::MAX))
        );
        assert_eq!(x.count, Some(0));
        let x = parse("XREVRANGE s + - COUNT 2", true).unwrap();
        assert_eq!(
            (x.start, x.end, x.count),
            (StreamId::MIN, StreamId::MAX, Some(2))
        );
    }

    #[test]
    fn errors_in_redis_order() {
        let e = |l, rev| parse(l, rev).err().unwrap_or_default();
        let invalid = "ERR Invalid stream ID specified as stream command argument";
        // XREVRANGE reads its start (the second bound) first.
        assert_eq!(e("XREVRANGE s (0-0 x", true), invalid);
        assert_eq!(
            e("XREVRANGE s (0-0 -", true),
            "ERR invalid end ID for the interval"
        );
        assert_eq!(e("XRANGE s - + COUNT", false), "ERR syntax error");
        assert_eq!(e("XRANGE s - + foo 1", false), "ERR syntax error");
        assert_eq!(e("XRANGE s - + COUNT x", false), CmdError::not_int().0);
    }
}
