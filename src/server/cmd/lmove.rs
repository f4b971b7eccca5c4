//! LMOVE source destination LEFT|RIGHT LEFT|RIGHT, and
//! RPOPLPUSH source destination (LMOVE … RIGHT LEFT).

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use crate::engine::keyspace::KeyType;
use crate::engine::memory::Op;
use crate::resp::frame::Frame;

/// LEFT (false) or RIGHT (true).
pub fn side(args: &mut Args) -> Result<bool, CmdError> {
    if args.eat("LEFT") {
        Ok(false)
    } else if args.eat("RIGHT") {
        Ok(true)
    } else {
        Err(CmdError::syntax())
    }
}

/// Moves one item; the reply is the item, or nil when `src` is empty.
pub fn lmove(ctx: &mut Ctx, src: Bytes, dst: Bytes, from_tail: bool, to_tail: bool) -> CmdResult {
    let (item, commit) = ctx.engine.mem(ctx.db(), |m| {
        if m.list(&src, |l| l.is_none_or(|l| l.is_empty()))? {
            return Ok(None);
        }
        match m.kind(&dst)? {
            None | Some(KeyType::List) => {}
            Some(_) => return Err(crate::error::EngineError::WrongType),
        }
        let db = m.db();
        let mut outs = m.apply(vec![Op::LMove {
            db,
            src: src.clone(),
            dst: dst.clone(),
            from_tail,
            to_tail,
        }])?;
        Ok(outs.pop().and_then(|mut o| o.items.pop()))
    })?;
    Ok(Outcome::after(
        item.map_or(Frame::Null, Frame::Bulk),
        commit,
    ))
}

/// Runs LMOVE.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let src = args.need()?;
    let dst = args.need()?;
    let from_tail = side(&mut args)?;
    let to_tail = side(&mut args)?;
    args.end()?;
    lmove(ctx, src, dst, from_tail, to_tail)
}

/// Runs RPOPLPUSH.
pub fn run_rpoplpush(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let src = args.need()?;
    let dst = args.need()?;
    args.end()?;
    lmove(ctx, src, dst, true, false)
}
