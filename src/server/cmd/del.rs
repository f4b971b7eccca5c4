//! DEL key [key ...] and UNLINK key [key ...]
use super::args::{Args, CmdResult, Ctx};
use crate::resp::frame::Frame;
use crate::server::events as ev;

/// Deletes the keys; the number that existed.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let mut n = 0;
    for k in args.rest() {
        if ctx.engine.delete(ctx.db(), &k)? {
            n += 1;
            ctx.notify(ev::GENERIC, "del", &k);
            // A blocked XREADGROUP on a deleted key gets its error.
            ctx.wake(&k, &[]);
        }
    }
    Ok(Frame::Integer(n).into())
}
