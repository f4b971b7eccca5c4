//! QUIT
use super::args::{Args, CmdResult, Ctx, Outcome};
use crate::resp::frame::Frame;

/// OK, then the connection closes.
pub fn run(_ctx: &mut Ctx, _args: Args) -> CmdResult {
    Ok(Outcome::Close(Frame::ok()))
}
