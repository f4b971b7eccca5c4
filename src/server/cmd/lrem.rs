//! LREM key count element.

use super::args::{Args, CmdResult, Ctx, Outcome};
use crate::engine::memory::Op;
use crate::resp::frame::Frame;

/// Runs LREM: removes up to |count| items equal to `element`, from the
/// head (count > 0), the tail (count < 0) or everywhere (0); the number
/// removed.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let count = args.i64()?;
    let value = args.need()?;
    args.end()?;
    let (n, commit) = ctx.engine.mem(ctx.db(), |m| {
        let any = m.list(&key, |l| l.is_some_and(|l| l.contains(&value)))?;
        if !any {
            return Ok(0);
        }
        let db = m.db();
        let outs = m.apply(vec![Op::LRem {
            db,
            key: key.clone(),
            count,
            value,
        }])?;
        Ok(outs.first().map_or(0, |o| o.n as i64))
    })?;
    if commit.is_some() {
        ctx.notify_list("lrem", &key);
    }
    Ok(Outcome::after(Frame::Integer(n), commit))
}
