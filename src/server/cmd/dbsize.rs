//! DBSIZE
use super::args::{Args, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// Keys in the client's database.
pub fn run(ctx: &mut Ctx, _args: Args) -> CmdResult {
    Ok(Frame::Integer(ctx.engine.dbsize(ctx.db())? as i64).into())
}
