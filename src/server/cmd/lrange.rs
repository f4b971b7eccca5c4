//! LLEN key, LRANGE key start stop, LINDEX key index.

use super::args::{Args, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// `[start, end)` of the items `start..=stop` names, Redis's way
/// (negative from the end, clamped).
pub fn span(len: usize, start: i64, stop: i64) -> (usize, usize) {
    let len = len as i64;
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (s, e) = (norm(start), norm(stop).min(len - 1));
    if s > e || s >= len {
        return (0, 0);
    }
    (s as usize, e as usize + 1)
}

/// Runs LLEN.
pub fn run_llen(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    args.end()?;
    let (n, _) = ctx
        .engine
        .mem(ctx.db(), |m| m.list(&key, |l| l.map_or(0, |l| l.len())))?;
    Ok(Frame::Integer(n as i64).into())
}

/// Runs LRANGE.
pub fn run_lrange(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let start = args.i64()?;
    let stop = args.i64()?;
    args.end()?;
    let (items, _) = ctx.engine.mem(ctx.db(), |m| {
        m.list(&key, |l| {
            let Some(l) = l else {
                return Vec::new();
            };
            let (s, e) = span(l.len(), start, stop);
            l.range(s..e).cloned().map(Frame::Bulk).collect()
        })
    })?;
    Ok(Frame::Array(items).into())
}

/// Runs LINDEX: the item at `index` (negative from the end), or nil.
pub fn run_lindex(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let index = args.i64()?;
    args.end()?;
    let (item, _) = ctx.engine.mem(ctx.db(), |m| {
        m.list(&key, |l| {
            let l = l?;
            let i = if index < 0 {
                (l.len() as i64).checked_add(index)?
            } else {
                index
            };
            usize::try_from(i).ok().and_then(|i| l.get(i)).cloned()
        })
    })?;
    Ok(item.map_or(Frame::Null, Frame::Bulk).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        assert_eq!(span(5, 0, -1), (0, 5));
        assert_eq!(span(5, 1, 2), (1, 3));
        assert_eq!(span(5, -2, -1), (3, 5));
        assert_eq!(span(5, -100, 100), (0, 5));
        assert_eq!(span(5, 3, 1), (0, 0));
        assert_eq!(span(5, 5, 10), (0, 0));
        assert_eq!(span(0, 0, -1), (0, 0));
    }
}
