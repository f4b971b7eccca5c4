//! EXISTS key [key ...]
use super::args::{Args, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// How many of the keys exist (a key named twice counts twice).
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let mut n = 0;
    for k in args.rest() {
        if ctx.engine.exists(ctx.db(), &k)? {
            n += 1;
        }
    }
    Ok(Frame::Integer(n).into())
}
