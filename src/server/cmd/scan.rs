//! SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
use super::args::{Args, CmdError, CmdResult, Ctx, bulk_array, bulk_str};
use crate::resp::frame::Frame;

/// One step of a key iteration: the next cursor and some keys.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let cursor = args.need()?;
    let cursor: u64 = std::str::from_utf8(&cursor)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CmdError::err("invalid cursor"))?;
    let mut pattern = None;
    let mut count = 10usize;
    let mut kind = None;
    while args.left() > 0 {
        if args.eat("MATCH") {
            pattern = Some(args.need()?);
        } else if args.eat("COUNT") {
            let n = args.i64()?;
            if n < 1 {
                return Err(CmdError::syntax());
            }
            count = n as usize;
        } else if args.eat("TYPE") {
            kind = Some(args.need()?);
        } else {
            return Err(CmdError::syntax());
        }
    }
    let (next, keys) =
        ctx.engine
            .scan(ctx.db(), cursor, pattern.as_deref(), count, kind.as_deref())?;
    Ok(Frame::Array(vec![bulk_str(&next.to_string()), bulk_array(keys)]).into())
}
