//! EXPIRE key seconds, PEXPIRE key ms, EXPIREAT key unix-seconds,
//! PEXPIREAT key unix-ms, each with [NX | XX | GT | LT]; PERSIST key.
//! Expiry times are kept in the catalog, so they survive restarts.
use super::args::{Args, CmdError, CmdResult, Ctx};
use crate::resp::frame::Frame;
use crate::server::events as ev;

/// Whether the time is relative and in seconds.
#[derive(Clone, Copy)]
struct Form {
    relative: bool,
    seconds: bool,
    name: &'static str,
}

fn set(ctx: &mut Ctx, mut args: Args, form: Form) -> CmdResult {
    let key = args.need()?;
    let n = args.i64()?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in args {
        match &opt.to_ascii_uppercase()[..] {
            b"NX" => nx = true,
            b"XX" => xx = true,
            b"GT" => gt = true,
            b"LT" => lt = true,
            _ => {
                return Err(CmdError::err(format!(
                    "Unsupported option {}",
                    String::from_utf8_lossy(&opt)
                )));
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    let invalid = || CmdError::err(format!("invalid expire time in '{}' command", form.name));
    let ms = if form.seconds {
        n.checked_mul(1000).ok_or_else(invalid)?
    } else {
        n
    };
    let at = if form.relative {
        ms.checked_add(ctx.now_ms as i64).ok_or_else(invalid)?
    } else {
        ms
    };
    let Some(current) = ctx.engine.expire_of(ctx.db(), &key)? else {
        return Ok(Frame::Integer(0).into());
    };
    // No expiry counts as an infinite TTL for GT and LT.
    let skip = (nx && current != 0)
        || (xx && current == 0)
        || (gt && (current == 0 || at <= current as i64))
        || (lt && current != 0 && at >= current as i64);
    if skip {
        return Ok(Frame::Integer(0).into());
    }
    // A time at or before now (or before the epoch) deletes the key.
    let at = u64::try_from(at).unwrap_or(1).max(1);
    let done = ctx.engine.set_expire(ctx.db(), &key, at)?;
    if done {
        let event = if at <= ctx.now_ms { "del" } else { "expire" };
        ctx.notify(ev::GENERIC, event, &key);
    }
    Ok(Frame::Integer(i64::from(done)).into())
}

/// EXPIRE.
pub fn run_expire(ctx: &mut Ctx, args: Args) -> CmdResult {
    set(
        ctx,
        args,
        Form {
            relative: true,
            seconds: true,
            name: "expire",
        },
    )
}

/// PEXPIRE.
pub fn run_pexpire(ctx: &mut Ctx, args: Args) -> CmdResult {
    set(
        ctx,
        args,
        Form {
            relative: true,
            seconds: false,
            name: "pexpire",
        },
    )
}

/// EXPIREAT.
pub fn run_expireat(ctx: &mut Ctx, args: Args) -> CmdResult {
    set(
        ctx,
        args,
        Form {
            relative: false,
            seconds: true,
            name: "expireat",
        },
    )
}

/// PEXPIREAT.
pub fn run_pexpireat(ctx: &mut Ctx, args: Args) -> CmdResult {
    set(
        ctx,
        args,
        Form {
            relative: false,
            seconds: false,
            name: "pexpireat",
        },
    )
}

/// PERSIST: 1 if an expiry time was removed.
pub fn run_persist(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let had = ctx
        .engine
        .expire_of(ctx.db(), &key)?
        .is_some_and(|at| at != 0);
    if had {
        ctx.engine.set_expire(ctx.db(), &key, 0)?;
        ctx.notify(ev::GENERIC, "persist", &key);
    }
    Ok(Frame::Integer(i64::from(had)).into())
}
