//! XREAD [COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]
//!
//! Also holds the option parser XREADGROUP shares, as Redis 7.0 shares it.
use std::time::Duration;

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, parse_i64};
use super::reply;
use crate::engine::id::StreamId;
use crate::engine::read::ReadFrom;
use crate::error::EngineError;
use crate::resp::frame::Frame;
use crate::server::blocking::{BlockRead, BlockSpec};

/// The options of XREAD and XREADGROUP: COUNT (a negative one is 0, no
/// limit), BLOCK in ms (0: for ever), GROUP and NOACK (XREADGROUP only), and
/// the keys with their ID arguments, not yet understood.
#[derive(Default)]
pub(super) struct ReadArgs {
    pub count: Option<usize>,
    pub block_ms: Option<u64>,
    pub group: Option<(Bytes, Bytes)>,
    pub noack: bool,
    pub keys: Vec<Bytes>,
    pub ids: Vec<Bytes>,
}

/// Parses the options of XREAD (`group` false) or XREADGROUP, in Redis's
/// order and with its errors.
pub(super) fn parse_read(args: &mut Args, group: bool) -> Result<ReadArgs, CmdError> {
    let only_group = |opt: &str| {
        let text =
            format!("The {opt} option is only supported by XREADGROUP. You called XREAD instead.");
        Err(CmdError::err(text))
    };
    let mut out = ReadArgs::default();
    let mut streams = None;
    while let Some(opt) = args.next() {
        let (is, more) = (
            |w: &str| opt.eq_ignore_ascii_case(w.as_bytes()),
            args.left(),
        );
        if is("BLOCK") && more > 0 {
            let t = parse_i64(&args.need()?);
            let t = t.ok_or_else(|| CmdError::err("timeout is not an integer or out of range"))?;
            out.block_ms =
                Some(u64::try_from(t).map_err(|_| CmdError::err("timeout is negative"))?);
        } else if is("COUNT") && more > 0 {
            out.count = Some(usize::try_from(args.i64()?.max(0)).unwrap_or(usize::MAX));
        } else if is("STREAMS") && more > 0 {
            streams = Some(args.rest());
        } else if is("GROUP") && more >= 2 {
            if !group {
                return only_group("GROUP");
            }
            out.group = Some((args.need()?, args.need()?));
        } else if is("NOACK") {
            if !group {
                return only_group("NOACK");
            }
            out.noack = true;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let mut keys = streams.ok_or_else(CmdError::syntax)?;
    if keys.len() % 2 != 0 {
        let text =
            "Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
        return Err(CmdError::err(text));
    }
    if group && out.group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    out.ids = keys.split_off(keys.len() / 2);
    out.keys = keys;
    Ok(out)
}

/// What a read that found nothing leads to: with BLOCK, outside EXEC, the
/// wait for `read`; otherwise `nothing`.
pub(super) fn block_or(ctx: &Ctx, ms: Option<u64>, read: BlockRead, nothing: Outcome) -> CmdResult {
    match ms {
        Some(ms) if !ctx.in_exec => {
            // BLOCK 0 waits for ever.
            let timeout = (ms > 0).then_some(Duration::from_millis(ms));
            let spec = BlockSpec {
                db: ctx.db(),
                timeout,
                read,
                resp3: ctx.resp3(),
            };
            Ok(Outcome::Block(Box::new(spec)))
        }
        _ => Ok(nothing),
    }
}

/// XREAD.
pub struct XRead {
    opts: ReadArgs,
    /// Each key's start; an error is reported after its key's type check,
    /// where Redis reports it.
    from: Vec<Result<ReadFrom, CmdError>>,
}

impl XRead {
    /// # Format
    ///
    /// `[COUNT count] [BLOCK ms] STREAMS key [key ...] id [id ...]`, where an
    /// ID is `$` (new entries only), `+` (the last entry, Redis 7.4) or
    /// `ms[-seq]`.
    pub fn parse(args: &mut Args) -> Result<XRead, CmdError> {
        let opts = parse_read(args, false)?;
        let from = opts.ids.iter().map(read_from).collect();
        Ok(XRead { opts, from })
    }

    /// Reads, or blocks when nothing is there and BLOCK was given.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let (db, count) = (ctx.db(), self.opts.count);
        let bad = self.from.iter().any(Result::is_err);
        let mut reqs = Vec::with_capacity(self.from.len());
        for (key, from) in self.opts.keys.into_iter().zip(self.from) {
            if bad {
                ctx.engine.stream(db, &key)?;
            }
            reqs.push((key, from?));
        }
        let r = ctx.engine.read_streams(db, &reqs, count)?;
        if !r.streams.is_empty() {
            return Ok(reply::read_reply(r.streams, ctx.resp3()).into());
        }
        let keys = reqs.into_iter().map(|(k, _)| k).zip(r.resume).collect();
        let read = BlockRead::Read { keys, count };
        block_or(ctx, self.opts.block_ms, read, Frame::NullArray.into())
    }
}

fn read_from(id: &Bytes) -> Result<ReadFrom, CmdError> {
    match id.as_ref() {
        b"$" => Ok(ReadFrom::New),
        b"+" => Ok(ReadFrom::Last),
        b">" => Err(CmdError::err(
            "The > ID can be specified only when calling XREADGROUP using the GROUP <group> \
             <consumer> option.",
        )),
        _ => StreamId::parse(id, 0)
            .map(ReadFrom::After)
            .ok_or_else(|| EngineError::InvalidId.into()),
    }
}

/// Runs XREAD.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XRead::parse(&mut args)?.apply(ctx)
}

/// Arguments from a line split at spaces, the command name first (tests).
#[cfg(test)]
pub(super) fn test_args(line: &str) -> Args {
    let items = line.split(' ').map(|s| Bytes::from(s.to_string()));
    Args::new(items.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<XRead, CmdError> {
        XRead::parse(&mut test_args(&format!("XREAD {line}")))
    }

    #[test]
    fn options_and_ids() {
        let r = parse("count -3 BLOCK 0 count 2 streams a b $ 5").unwrap();
        assert_eq!((r.opts.count, r.opts.block_ms), (Some(2), Some(0)));
        assert_eq!(r.opts.keys, [Bytes::from("a"), Bytes::from("b")]);
        let after5 = ReadFrom::After(StreamId::new(5, 0));
        assert_eq!(r.from, [Ok(ReadFrom::New), Ok(after5)]);
        assert_eq!(parse("STREAMS a +").unwrap().from, [Ok(ReadFrom::Last)]);
        // A bad ID waits for its key's type check.
        let gt = parse("STREAMS a b 0 >").unwrap().from.pop().unwrap();
        assert!(gt.is_err_and(|e| e.0.starts_with("ERR The > ID can be specified only")));
    }

    #[test]
    fn errors() {
        for (line, want) in [
            ("STREAMS a b 0", "ERR Unbalanced XREAD list of streams"),
            ("BLOCK -1 STREAMS a 0", "ERR timeout is negative"),
            ("BLOCK x STREAMS a 0", "ERR timeout is not an integer"),
            ("COUNT x STREAMS a 0", "ERR value is not an integer"),
            ("GROUP g c STREAMS a 0", "ERR The GROUP option is only"),
            ("NOACK STREAMS a 0", "ERR The NOACK option is only"),
            ("COUNT 1 STREAMS", "ERR syntax error"),
            ("FOO STREAMS a 0", "ERR syntax error"),
            ("COUNT 1 BLOCK", "ERR syntax error"),
        ] {
            let e = parse(line).err().map(|e| e.0).unwrap_or_default();
            assert!(e.starts_with(want), "{line}: {e}");
        }
    }
}
