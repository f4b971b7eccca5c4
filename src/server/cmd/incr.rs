//! INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT: arithmetic on strings that
//! hold numbers. The key's expiry time is kept.

use crate::server::events as ev;
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, parse_i64};
use super::set::rewrite;
use crate::resp::frame::Frame;

fn incr_by(ctx: &mut Ctx, key: Bytes, by: i64) -> CmdResult {
    let mut n = 0;
    let (_, commit) = rewrite(ctx, &key, |old| {
        let cur = match old {
            None => 0,
            Some(b) => parse_i64(&b).ok_or_else(CmdError::not_int)?,
        };
        n = cur
            .checked_add(by)
            .ok_or_else(|| CmdError::err("increment or decrement would overflow"))?;
        Ok(Some(Bytes::from(n.to_string())))
    })?;
    ctx.notify(ev::STRING, "incrby", &key);
    Ok(Outcome::after(Frame::Integer(n), commit))
}

/// Runs INCR key.
pub fn run_incr(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    args.end()?;
    incr_by(ctx, key, 1)
}

/// Runs DECR key.
pub fn run_decr(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    args.end()?;
    incr_by(ctx, key, -1)
}

/// Runs INCRBY key increment.
pub fn run_incrby(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let by = args.i64()?;
    args.end()?;
    incr_by(ctx, key, by)
}

/// Runs DECRBY key decrement.
pub fn run_decrby(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let by = args.i64()?;
    args.end()?;
    let by = by
        .checked_neg()
        .ok_or_else(|| CmdError::err("decrement would overflow"))?;
    incr_by(ctx, key, by)
}

/// A float as Redis reads one: no spaces, no NaN.
fn parse_float(b: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(b).ok()?;
    if s.is_empty() || s.trim() != s {
        return None;
    }
    let v: f64 = s.parse().ok()?;
    (!v.is_nan()).then_some(v)
}

/// Runs INCRBYFLOAT key increment.
pub fn run_incrbyfloat(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let raw = args.need()?;
    args.end()?;
    let not_float = || CmdError::err("value is not a valid float");
    let by = parse_float(&raw).ok_or_else(not_float)?;
    let (new, commit) = rewrite(ctx, &key, |old| {
        let cur = match old {
            None => 0.0,
            Some(b) => parse_float(&b).ok_or_else(not_float)?,
        };
        let n = cur + by;
        if !n.is_finite() {
            return Err(CmdError::err("increment would produce NaN or Infinity"));
        }
        Ok(Some(Bytes::from(format!("{n}"))))
    })?;
    ctx.notify(ev::STRING, "incrbyfloat", &key);
    Ok(Outcome::after(Frame::Bulk(new.unwrap_or_default()), commit))
}
