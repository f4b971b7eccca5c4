//! LINSERT key BEFORE|AFTER pivot element.

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use crate::engine::memory::Op;
use crate::resp::frame::Frame;
use crate::server::events as ev;

/// Runs LINSERT: the list's new length, -1 when the pivot is not there,
/// 0 when the list is not.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let after = if args.eat("AFTER") {
        true
    } else if args.eat("BEFORE") {
        false
    } else {
        return Err(CmdError::syntax());
    };
    let pivot = args.need()?;
    let value = args.need()?;
    args.end()?;
    let (n, commit) = ctx.engine.mem(ctx.db(), |m| {
        let found = m.list(&key, |l| l.map(|l| l.iter().position(|it| *it == pivot)))?;
        let at = match found {
            None => return Ok(0),
            Some(None) => return Ok(-1),
            Some(Some(i)) => i + usize::from(after),
        };
        let db = m.db();
        let outs = m.apply(vec![Op::LInsert {
            db,
            key: key.clone(),
            index: at as u64,
            value,
        }])?;
        Ok(outs.first().map_or(0, |o| o.n as i64))
    })?;
    if commit.is_some() {
        ctx.notify(ev::LIST, "linsert", &key);
    }
    Ok(Outcome::after(Frame::Integer(n), commit))
}
