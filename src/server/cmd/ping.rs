//! PING [message]
use super::args::{Args, CmdResult, Ctx, simple};
use super::table::wrong_arity;
use crate::resp::frame::Frame;

/// `PONG`, or the message as a bulk string.
pub fn run(_ctx: &mut Ctx, mut args: Args) -> CmdResult {
    match args.left() {
        0 => Ok(simple("PONG").into()),
        1 => Ok(Frame::Bulk(args.need()?).into()),
        _ => Err(wrong_arity("ping")),
    }
}
