//! SWAPDB index1 index2
use std::sync::atomic::Ordering;

use super::args::{Args, CmdError, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// Swaps two databases.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let a = args
        .i64()
        .map_err(|_| CmdError::err("invalid first DB index"))?;
    let b = args
        .i64()
        .map_err(|_| CmdError::err("invalid second DB index"))?;
    let n = ctx.engine.databases() as i64;
    if !(0..n).contains(&a) || !(0..n).contains(&b) {
        return Err(CmdError::err("DB index is out of range"));
    }
    ctx.engine.swap_db(a as usize, b as usize)?;
    ctx.shared.watched.epoch.fetch_add(1, Ordering::AcqRel);
    // The clients blocked in either database may find something now.
    for db in [a as usize, b as usize] {
        for key in ctx.shared.blocked.keys_in(db) {
            ctx.wake_in(db, &key, &[]);
        }
    }
    Ok(Frame::ok().into())
}
