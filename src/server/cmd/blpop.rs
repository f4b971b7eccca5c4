//! LMPOP, and the blocking pops BLPOP, BRPOP and BLMPOP: each pops from
//! the first of its keys that holds a non-empty list.
//!
//! `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]`,
//! `BLPOP key [key ...] timeout`, `BRPOP key [key ...] timeout`,
//! `BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]`.

use crate::server::events as ev;
use std::time::Duration;

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, parse_i64};
use super::lmove::side;
use crate::engine::keyspace::Engine;
use crate::engine::memory::Op;
use crate::error::EngineError;
use crate::resp::frame::Frame;
use crate::server::blocking::{BlockRead, BlockSpec};
use crate::storage::Commit;

/// A blocking command's timeout in seconds, Redis's way: 0 waits for
/// ever (`None`).
pub fn timeout(raw: &[u8]) -> Result<Option<Duration>, CmdError> {
    let secs = std::str::from_utf8(raw)
        .ok()
        .filter(|s| !s.starts_with(|c: char| c.is_ascii_whitespace()))
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|v| !v.is_nan())
        .ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?;
    let ms = secs * 1000.0;
    // Redis 7.0 reports a timeout beyond what it can count as negative.
    if ms < 0.0 || ms >= i64::MAX as f64 {
        return Err(CmdError::err("timeout is negative"));
    }
    // Rounded up, as Redis does: 0.0001 waits 1 ms, not for ever.
    let ms = ms.ceil() as u64;
    Ok((ms > 0).then(|| Duration::from_millis(ms)))
}

/// A key and the items popped from it.
pub type Popped = (Bytes, Vec<Bytes>);

/// Pops up to `count` items from the first of `keys` that holds a list:
/// the key and the items, or `None` when none does. A key of another
/// type before it is WRONGTYPE.
pub fn pop_first(
    engine: &Engine,
    db: usize,
    keys: &[Bytes],
    tail: bool,
    count: u64,
) -> Result<(Option<Popped>, Option<Commit>), EngineError> {
    engine.mem(db, |m| {
        for key in keys {
            let len = m.list(key, |l| l.map_or(0, |l| l.len()))?;
            if len == 0 {
                continue;
            }
            let mut outs = m.apply(vec![Op::Pop {
                db,
                key: key.clone(),
                tail,
                count: count.min(len as u64),
            }])?;
            let items = outs.pop().map(|o| o.items).unwrap_or_default();
            return Ok(Some((key.clone(), items)));
        }
        Ok(None)
    })
}

/// The reply to a pop that found something: `[key, item]` for BLPOP and
/// BRPOP, `[key, [item ...]]` for (B)LMPOP.
pub fn pop_reply(key: Bytes, mut items: Vec<Bytes>, multi: bool) -> Frame {
    let items = if multi {
        Frame::Array(items.into_iter().map(Frame::Bulk).collect())
    } else {
        items.pop().map_or(Frame::Null, Frame::Bulk)
    };
    Frame::Array(vec![Frame::Bulk(key), items])
}

/// Pops, or blocks (outside MULTI, with a timeout) when every list is
/// empty.
fn pop_or_block(
    ctx: &mut Ctx,
    keys: Vec<Bytes>,
    tail: bool,
    count: u64,
    multi: bool,
    block: Option<Option<Duration>>,
) -> CmdResult {
    let (found, commit) = pop_first(ctx.engine, ctx.db(), &keys, tail, count)?;
    if let Some((key, items)) = found {
        ctx.notify_list(ev::list_side(true, tail), &key);
        return Ok(Outcome::after(pop_reply(key, items, multi), commit));
    }
    match block {
        Some(timeout) if !ctx.in_exec => Ok(Outcome::Block(Box::new(BlockSpec {
            db: ctx.db(),
            timeout,
            read: BlockRead::Pop {
                keys,
                tail,
                count,
                multi,
            },
            resp3: ctx.resp3(),
        }))),
        _ => Ok(Frame::NullArray.into()),
    }
}

/// `numkeys key [key ...] LEFT|RIGHT [COUNT count]`.
fn parse_mpop(args: &mut Args) -> Result<(Vec<Bytes>, bool, u64), CmdError> {
    let positive = |b: &Bytes, what: &str| {
        parse_i64(b)
            .filter(|n| *n > 0)
            .ok_or_else(|| CmdError::err(format!("{what} should be greater than 0")))
    };
    let n = positive(&args.need()?, "numkeys")?;
    if n as u64 >= args.left() as u64 {
        return Err(CmdError::syntax());
    }
    let keys = (0..n).map(|_| args.need()).collect::<Result<Vec<_>, _>>()?;
    let tail = side(args)?;
    let mut count = None;
    while args.left() > 0 {
        if count.is_none() && args.eat("COUNT") {
            count = Some(positive(&args.need()?, "count")? as u64);
        } else {
            return Err(CmdError::syntax());
        }
    }
    Ok((keys, tail, count.unwrap_or(1)))
}

/// Runs LMPOP.
pub fn run_lmpop(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let (keys, tail, count) = parse_mpop(&mut args)?;
    pop_or_block(ctx, keys, tail, count, true, None)
}

/// Runs BLMPOP.
pub fn run_blmpop(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let t = timeout(&args.need()?)?;
    let (keys, tail, count) = parse_mpop(&mut args)?;
    pop_or_block(ctx, keys, tail, count, true, Some(t))
}

fn bpop(ctx: &mut Ctx, mut args: Args, tail: bool) -> CmdResult {
    let mut keys = args.rest();
    let t = keys.pop().ok_or_else(CmdError::syntax)?;
    let t = timeout(&t)?;
    pop_or_block(ctx, keys, tail, 1, false, Some(t))
}

/// Runs BLPOP.
pub fn run_blpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    bpop(ctx, args, false)
}

/// Runs BRPOP.
pub fn run_brpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    bpop(ctx, args, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_as_redis_reads_them() {
        assert_eq!(timeout(b"0").unwrap(), None);
        assert_eq!(timeout(b"0.5").unwrap(), Some(Duration::from_millis(500)));
        assert_eq!(timeout(b"2").unwrap(), Some(Duration::from_secs(2)));
        assert_eq!(timeout(b"1e-1").unwrap(), Some(Duration::from_millis(100)));
        assert_eq!(timeout(b"0.0001").unwrap(), Some(Duration::from_millis(1)));
        for (bad, text) in [
            (&b"x"[..], "ERR timeout is not a float or out of range"),
            (b"nan", "ERR timeout is not a float or out of range"),
            (b" 1", "ERR timeout is not a float or out of range"),
            (b"-1", "ERR timeout is negative"),
            (b"inf", "ERR timeout is negative"),
            (b"1e20", "ERR timeout is negative"),
        ] {
            assert_eq!(timeout(bad).unwrap_err().0, text, "{bad:?}");
        }
    }
}
