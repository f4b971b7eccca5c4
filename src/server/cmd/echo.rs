//! ECHO message
use super::args::{Args, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// The message back.
pub fn run(_ctx: &mut Ctx, mut args: Args) -> CmdResult {
    Ok(Frame::Bulk(args.need()?).into())
}
