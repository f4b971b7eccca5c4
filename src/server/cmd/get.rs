//! GET key, GETDEL key, GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST],
//! MGET key [key ...].

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use super::set::{Expiry, expire_time};
use crate::engine::memory::Op;
use crate::error::EngineError;
use crate::resp::frame::Frame;
use crate::server::events as ev;

/// Runs GET: the string, nil when missing, WRONGTYPE for another type.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    args.end()?;
    let (v, _) = ctx.engine.mem(ctx.db(), |m| m.string(&key))?;
    Ok(v.map_or(Frame::Null, Frame::Bulk).into())
}

/// Runs GETDEL: GET, then delete the key if it held a string.
pub fn run_getdel(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    args.end()?;
    let (v, commit) = ctx.engine.mem(ctx.db(), |m| {
        let v = m.string(&key)?;
        if v.is_some() {
            let db = m.db();
            m.apply(vec![Op::Del {
                db,
                key: key.clone(),
            }])?;
        }
        Ok(v)
    })?;
    if commit.is_some() {
        ctx.notify(ev::GENERIC, "del", &key);
    }
    Ok(Outcome::after(v.map_or(Frame::Null, Frame::Bulk), commit))
}

/// Runs GETEX: GET, and change the key's expiry time.
pub fn run_getex(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let mut expiry = Expiry::Keep;
    while args.left() > 0 {
        let word = args.need()?.to_ascii_uppercase();
        if expiry != Expiry::Keep {
            return Err(CmdError::syntax());
        }
        expiry = match &word[..] {
            b"PERSIST" => Expiry::Persist,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" => {
                let raw = args.need().map_err(|_| CmdError::syntax())?;
                let (seconds, absolute) = (word[0] == b'E', word.len() == 4);
                Expiry::At(expire_time(&raw, seconds, absolute, ctx.now_ms, "getex")?)
            }
            _ => return Err(CmdError::syntax()),
        };
    }
    let now = ctx.now_ms;
    let mut event = "";
    let (v, commit) = ctx.engine.mem(ctx.db(), |m| {
        let v = m.string(&key)?;
        if v.is_none() {
            return Ok(v);
        }
        let db = m.db();
        let op = match expiry {
            Expiry::Keep | Expiry::None => return Ok(v),
            Expiry::At(t) if t <= now => Op::Del {
                db,
                key: key.clone(),
            },
            Expiry::At(t) => Op::Expire {
                db,
                key: key.clone(),
                at: t,
            },
            Expiry::Persist if m.expire_at(&key)? == 0 => return Ok(v),
            Expiry::Persist => Op::Expire {
                db,
                key: key.clone(),
                at: 0,
            },
        };
        event = match op {
            Op::Del { .. } => "del",
            Op::Expire { at: 0, .. } => "persist",
            _ => "expire",
        };
        m.apply(vec![op])?;
        Ok(v)
    })?;
    if commit.is_some() {
        ctx.notify(ev::GENERIC, event, &key);
    }
    Ok(Outcome::after(v.map_or(Frame::Null, Frame::Bulk), commit))
}

/// Runs MGET: each key's string, nil for a missing key or another type.
pub fn run_mget(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let keys = args.rest();
    let (vals, _) = ctx.engine.mem(ctx.db(), |m| {
        let mut out = Vec::with_capacity(keys.len());
        for k in &keys {
            out.push(match m.string(k) {
                Ok(v) => v.map_or(Frame::Null, Frame::Bulk),
                Err(EngineError::WrongType) => Frame::Null,
                Err(e) => return Err(e),
            });
        }
        Ok(out)
    })?;
    Ok(Frame::Array(vals).into())
}
