//! LPUSH, RPUSH, LPUSHX and RPUSHX key element [element ...].

use super::args::{Args, CmdResult, Ctx, Outcome};
use crate::engine::keyspace::KeyType;
use crate::engine::memory::Op;
use crate::resp::frame::Frame;
use crate::server::events as ev;

fn push(ctx: &mut Ctx, mut args: Args, tail: bool, only_existing: bool) -> CmdResult {
    let key = args.need()?;
    let items = args.rest();
    let (len, commit) = ctx.mem(|m| {
        match m.kind(&key)? {
            None if only_existing => return Ok(0),
            None | Some(KeyType::List) => {}
            Some(_) => return Err(crate::error::EngineError::WrongType),
        }
        let db = m.db();
        let outs = m.apply(vec![Op::Push {
            db,
            key: key.clone(),
            tail,
            items,
        }])?;
        Ok(outs.first().map_or(0, |o| o.n))
    })?;
    if len > 0 {
        ctx.wake(&key, commit.as_slice());
        ctx.notify(ev::LIST, ev::list_side(false, tail), &key);
    }
    Ok(Outcome::after(Frame::Integer(len as i64), commit))
}

/// Runs LPUSH: the list's length after.
pub fn run_lpush(ctx: &mut Ctx, args: Args) -> CmdResult {
    push(ctx, args, false, false)
}

/// Runs RPUSH.
pub fn run_rpush(ctx: &mut Ctx, args: Args) -> CmdResult {
    push(ctx, args, true, false)
}

/// Runs LPUSHX: 0 and nothing pushed when the list does not exist.
pub fn run_lpushx(ctx: &mut Ctx, args: Args) -> CmdResult {
    push(ctx, args, false, true)
}

/// Runs RPUSHX.
pub fn run_rpushx(ctx: &mut Ctx, args: Args) -> CmdResult {
    push(ctx, args, true, true)
}
