//! INCR, DECR, INCRBY, DECRBY and INCRBYFLOAT: arithmetic on strings that
//! hold numbers. The key's expiry time is kept.

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, parse_i64};
use crate::engine::memory::Op;
use crate::resp::frame::Frame;

/// Replaces the string at `key` with `f(old)`; returns the new text.
fn update(
    ctx: &mut Ctx,
    key: &Bytes,
    f: impl FnOnce(Option<&[u8]>) -> Result<Bytes, CmdError>,
) -> Result<(Bytes, Option<crate::storage::Commit>), CmdError> {
    let mut failed = None;
    let (new, commit) = ctx.engine.mem(ctx.db(), |m| {
        let old = m.string(key)?;
        let new = match f(old.as_deref()) {
            Ok(n) => n,
            Err(e) => {
                failed = Some(e);
                return Ok(Bytes::new());
            }
        };
        let expire_at = m.expire_at(key)?;
        let db = m.db();
        m.apply(vec![Op::Set {
            db,
            key: key.clone(),
            value: new.clone(),
            expire_at,
        }])?;
        Ok(new)
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok((new, commit)),
    }
}

fn incr_by(ctx: &mut Ctx, key: Bytes, by: i64) -> CmdResult {
    let (new, commit) = update(ctx, &key, |old| {
        let cur = match old {
            None => 0,
            Some(b) => parse_i64(b).ok_or_else(CmdError::not_int)?,
        };
        let n = cur
            .checked_add(by)
            .ok_or_else(|| CmdError::err("increment or decrement would overflow"))?;
        Ok(Bytes::from(n.to_string()))
    })?;
    let n = parse_i64(&new).unwrap_or_default();
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
    let (new, commit) = update(ctx, &key, |old| {
        let cur = match old {
            None => 0.0,
            Some(b) => parse_float(b).ok_or_else(not_float)?,
        };
        let n = cur + by;
        if !n.is_finite() {
            return Err(CmdError::err("increment would produce NaN or Infinity"));
        }
        Ok(Bytes::from(format!("{n}")))
    })?;
    Ok(Outcome::after(Frame::Bulk(new), commit))
}
