//! LTRIM key start stop.

use super::args::{Args, CmdResult, Ctx, Outcome};
use super::lrange::span;
use crate::engine::memory::Op;
use crate::resp::frame::Frame;

/// Runs LTRIM: keeps the items `start..=stop` (LRANGE's indexes); an
/// emptied list is deleted.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let start = args.i64()?;
    let stop = args.i64()?;
    args.end()?;
    let ((), commit) = ctx.engine.mem(ctx.db(), |m| {
        let Some(len) = m.list(&key, |l| l.map(|l| l.len()))? else {
            return Ok(());
        };
        let (s, e) = span(len, start, stop);
        if s == 0 && e == len {
            return Ok(());
        }
        let db = m.db();
        m.apply(vec![Op::LTrim {
            db,
            key: key.clone(),
            start: s as u64,
            end: e as u64,
        }])?;
        Ok(())
    })?;
    if commit.is_some() {
        ctx.notify_list("ltrim", &key);
    }
    Ok(Outcome::after(Frame::ok(), commit))
}
