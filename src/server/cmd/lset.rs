//! LSET key index element.

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use crate::engine::memory::Op;
use crate::resp::frame::Frame;
use crate::server::events as ev;

/// Runs LSET: replaces the item at `index` (negative from the end).
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let index = args.i64()?;
    let value = args.need()?;
    args.end()?;
    let (r, commit) = ctx.engine.mem(ctx.db(), |m| {
        let Some(len) = m.list(&key, |l| l.map(|l| l.len() as i64))? else {
            return Ok(Err(CmdError::err("no such key")));
        };
        let at = if index < 0 { len + index } else { index };
        if at < 0 || at >= len {
            return Ok(Err(CmdError::err("index out of range")));
        }
        let db = m.db();
        m.apply(vec![Op::LSet {
            db,
            key: key.clone(),
            index: at as u64,
            value,
        }])?;
        Ok(Ok(()))
    })?;
    r?;
    ctx.notify(ev::LIST, "lset", &key);
    Ok(Outcome::after(Frame::ok(), commit))
}
