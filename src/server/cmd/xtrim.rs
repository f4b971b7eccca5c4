//! XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
//!
//! Also the trimming arguments XADD shares, read as Redis 7 reads them
//! (`streamParseAddOrTrimArgsOrReply`): in any order, one strategy, LIMIT
//! only with `~`.

use crate::server::events as ev;
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use crate::engine::stream::{Trim, TrimStrategy};
use crate::resp::frame::Frame;

const BOTH: &str = "syntax error, MAXLEN and MINID options at the same time are not compatible";
pub(super) const NO_STRATEGY: &str =
    "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy";
pub(super) const NOT_APPROX: &str =
    "ERR syntax error, LIMIT cannot be used without the special ~ option";
const XTRIM_NEEDS: &str = "syntax error, XTRIM must be called with a trimming strategy";

/// Trimming options as they are read (XADD and XTRIM).
#[derive(Debug, Default)]
pub(super) struct TrimArgs {
    strategy: Option<TrimStrategy>,
    approx: bool,
    limit: Option<u64>,
}

impl TrimArgs {
    /// Reads the values of `opt` (already taken) if it is MAXLEN, MINID or
    /// LIMIT with an argument after it; `false` when it is none of them.
    pub(super) fn option(&mut self, opt: &[u8], args: &mut Args) -> Result<bool, CmdError> {
        let maxlen = opt.eq_ignore_ascii_case(b"MAXLEN");
        if args.left() == 0 {
            return Ok(false);
        } else if maxlen || opt.eq_ignore_ascii_case(b"MINID") {
            if self.strategy.is_some() {
                return Err(CmdError::err(BOTH));
            }
            self.approx = args.left() >= 2 && args.eat("~");
            if !self.approx && args.left() >= 2 {
                args.eat("=");
            }
            self.strategy = Some(if maxlen {
                TrimStrategy::MaxLen(args.u64_or("ERR The MAXLEN argument must be >= 0.")?)
            } else {
                TrimStrategy::MinId(args.id()?)
            });
        } else if opt.eq_ignore_ascii_case(b"LIMIT") {
            self.limit = Some(args.u64_or("ERR The LIMIT argument must be >= 0.")?);
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// The trim asked for, after Redis's checks of the combination; XTRIM
    /// (`required`) must have one.
    pub(super) fn finish(self, required: bool) -> Result<Option<Trim>, CmdError> {
        if self.limit.is_some_and(|l| l != 0) && self.strategy.is_none() {
            return Err(CmdError(NO_STRATEGY.into()));
        } else if required && self.strategy.is_none() {
            return Err(CmdError::err(XTRIM_NEEDS));
        } else if self.limit.is_some() && !self.approx {
            return Err(CmdError(NOT_APPROX.into()));
        }
        let (approx, limit) = (self.approx, self.limit);
        Ok(self.strategy.map(|strategy| Trim {
            strategy,
            approx,
            limit,
        }))
    }
}

/// XTRIM: removes entries from the start of a stream.
#[derive(Debug, PartialEq)]
pub struct XTrim {
    key: Bytes,
    trim: Trim,
}

impl XTrim {
    /// # Format
    ///
    /// `XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]`, the options
    /// in any order.
    pub fn parse(args: &mut Args) -> Result<XTrim, CmdError> {
        let key = args.need()?;
        let mut t = TrimArgs::default();
        while let Some(opt) = args.next() {
            if !t.option(&opt, args)? {
                return Err(CmdError::syntax());
            }
        }
        let trim = t.finish(true)?.ok_or_else(CmdError::syntax)?;
        Ok(XTrim { key, trim })
    }

    /// The number of entries removed, once durable; 0 for a missing key.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let Some(s) = ctx.engine.stream(ctx.db(), &self.key)? else {
            return Ok(Frame::Integer(0).into());
        };
        let (n, commits) = s.trim(self.trim, ctx.engine.node_limits())?;
        if n > 0 {
            ctx.notify(ev::STREAM, "xtrim", &self.key);
        }
        Ok(Outcome::Durable(Frame::Integer(n as i64), commits))
    }
}

/// Runs XTRIM.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XTrim::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::id::StreamId;

    fn parse(line: &'static str) -> Result<(TrimStrategy, bool, Option<u64>), String> {
        let items = line.split(' ').map(Bytes::from).collect();
        let t = XTrim::parse(&mut Args::new(items)).map_err(|e| e.0)?.trim;
        Ok((t.strategy, t.approx, t.limit))
    }

    #[test]
    fn options_in_any_order() {
        assert_eq!(
            parse("XTRIM s maxlen = 5"),
            Ok((TrimStrategy::MaxLen(5), false, None))
        );
        let minid = TrimStrategy::MinId(StreamId::new(3, 0));
        assert_eq!(
            parse("XTRIM s LIMIT 7 MINID ~ 3"),
            Ok((minid, true, Some(7)))
        );
    }

    #[test]
    fn redis_errors_in_redis_order() {
        let (both, needs) = (format!("ERR {BOTH}"), format!("ERR {XTRIM_NEEDS}"));
        let not_int = CmdError::not_int().0;
        let invalid = crate::EngineError::InvalidId.to_string();
        let maxlen = "ERR The MAXLEN argument must be >= 0.";
        let limit = "ERR The LIMIT argument must be >= 0.";
        for (line, want) in [
            ("XTRIM s foo 1", "ERR syntax error"),
            ("XTRIM s MAXLEN", "ERR syntax error"),
            ("XTRIM s MAXLEN ~", &not_int),
            ("XTRIM s MAXLEN 1 LIMIT 3", NOT_APPROX),
            ("XTRIM s LIMIT 3 LIMIT 4", NO_STRATEGY),
            ("XTRIM s LIMIT 0 LIMIT 0", &needs),
            ("XTRIM s MAXLEN 1 MINID 1", &both),
            ("XTRIM s MAXLEN -1", maxlen),
            ("XTRIM s MAXLEN ~ 1 LIMIT -1", limit),
            ("XTRIM s MINID x", &invalid),
        ] {
            assert_eq!(parse(line).err().as_deref(), Some(want), "{line}");
        }
    }
}
