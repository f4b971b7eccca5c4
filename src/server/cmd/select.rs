//! SELECT index
use std::sync::atomic::Ordering;

use super::args::{Args, CmdError, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// Changes the client's database.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let db = args.i64()?;
    if db < 0 || db as usize >= ctx.engine.databases() {
        return Err(CmdError::err("DB index is out of range"));
    }
    ctx.client.db = db as usize;
    ctx.client.info.db.store(db as usize, Ordering::Relaxed);
    Ok(Frame::ok().into())
}
