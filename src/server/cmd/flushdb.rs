//! FLUSHDB [ASYNC | SYNC]
use std::sync::atomic::Ordering;

use super::args::{Args, CmdResult, Ctx};
use super::flushall::mode;
use crate::resp::frame::Frame;

/// Deletes every key of the client's database.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    mode(&mut args)?;
    let db = ctx.db();
    for k in ctx.engine.keys(db, b"*")? {
        ctx.engine.delete(db, &k)?;
        ctx.wake(&k, &[]);
    }
    ctx.shared.watched.epoch.fetch_add(1, Ordering::AcqRel);
    Ok(Frame::ok().into())
}
