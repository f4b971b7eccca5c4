//! TTL, PTTL, EXPIRETIME, PEXPIRETIME key
use super::args::{Args, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// -2 when the key does not exist, -1 when it has no expiry time, else
/// what `f` makes of the expiry time (Unix ms) and now.
fn reply(ctx: &mut Ctx, mut args: Args, f: fn(u64, u64) -> i64) -> CmdResult {
    let key = args.need()?;
    let n = match ctx.engine.expire_of(ctx.db(), &key)? {
        None => -2,
        Some(0) => -1,
        Some(at) => f(at, ctx.now_ms),
    };
    Ok(Frame::Integer(n).into())
}

/// TTL: seconds left, rounded as Redis rounds (to the nearest).
pub fn run_ttl(ctx: &mut Ctx, args: Args) -> CmdResult {
    reply(ctx, args, |at, now| {
        (at.saturating_sub(now) as i64 + 500) / 1000
    })
}

/// PTTL: milliseconds left.
pub fn run_pttl(ctx: &mut Ctx, args: Args) -> CmdResult {
    reply(ctx, args, |at, now| at.saturating_sub(now) as i64)
}

/// EXPIRETIME: Unix seconds.
pub fn run_expiretime(ctx: &mut Ctx, args: Args) -> CmdResult {
    reply(ctx, args, |at, _| (at / 1000) as i64)
}

/// PEXPIRETIME: Unix milliseconds.
pub fn run_pexpiretime(ctx: &mut Ctx, args: Args) -> CmdResult {
    reply(ctx, args, |at, _| at as i64)
}
