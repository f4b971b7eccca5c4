//! LPOP key [count], RPOP key [count].

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, parse_i64};
use crate::engine::memory::Op;
use crate::resp::frame::Frame;
use crate::server::events as ev;

fn pop(ctx: &mut Ctx, mut args: Args, tail: bool) -> CmdResult {
    let key = args.need()?;
    let count = match args.left() {
        0 => None,
        _ => {
            let raw = args.need()?;
            let n = parse_i64(&raw)
                .filter(|n| *n >= 0)
                .ok_or_else(|| CmdError::err("value is out of range, must be positive"))?;
            Some(n as u64)
        }
    };
    args.end()?;
    let (items, commit) = ctx.mem(|m| {
        let len = m.list(&key, |l| l.map(|l| l.len()))?;
        let Some(len) = len else {
            return Ok(None);
        };
        let want = count.unwrap_or(1).min(len as u64);
        if want == 0 {
            return Ok(Some(Vec::new()));
        }
        let db = m.db();
        let mut outs = m.apply(vec![Op::Pop {
            db,
            key: key.clone(),
            tail,
            count: want,
        }])?;
        Ok(Some(outs.pop().map(|o| o.items).unwrap_or_default()))
    })?;
    if items.as_ref().is_some_and(|i| !i.is_empty()) {
        ctx.notify_list(ev::list_side(true, tail), &key);
    }
    let reply = match (items, count) {
        (None, None) => Frame::Null,
        (None, Some(_)) => Frame::NullArray,
        (Some(mut items), None) => items.pop().map_or(Frame::Null, Frame::Bulk),
        (Some(items), Some(_)) => Frame::Array(items.into_iter().map(Frame::Bulk).collect()),
    };
    Ok(Outcome::after(reply, commit))
}

/// Runs LPOP: the first element (or up to `count` of them).
pub fn run_lpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    pop(ctx, args, false)
}

/// Runs RPOP: the last element (or up to `count` of them).
pub fn run_rpop(ctx: &mut Ctx, args: Args) -> CmdResult {
    pop(ctx, args, true)
}
