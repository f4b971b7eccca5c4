//! FLUSHALL [ASYNC | SYNC]
use std::sync::atomic::Ordering;

use super::args::{Args, CmdError, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// Reads the optional ASYNC / SYNC (both delete before replying here).
pub fn mode(args: &mut Args) -> Result<(), CmdError> {
    if !(args.eat("ASYNC") || args.eat("SYNC")) && args.left() > 0 {
        return Err(CmdError::syntax());
    }
    args.end()
}

/// Deletes every key of every database.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    mode(&mut args)?;
    for db in 0..ctx.engine.databases() {
        for k in ctx.engine.keys(db, b"*")? {
            ctx.engine.delete(db, &k)?;
            ctx.wake_in(db, &k, &[]);
        }
    }
    ctx.shared.watched.epoch.fetch_add(1, Ordering::AcqRel);
    Ok(Frame::ok().into())
}
