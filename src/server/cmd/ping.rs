//! PING [message]
use super::args::{Args, CmdResult, Ctx, bulk_str, simple};
use super::table::wrong_arity;
use crate::resp::frame::{Frame, Protocol};

/// `PONG`, or the message as a bulk string.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    // A RESP2 client in subscribed mode gets a push-shaped answer.
    if ctx.client.protocol == Protocol::Resp2 && ctx.client.subs.active() && args.left() <= 1 {
        let msg = args.next().unwrap_or_default();
        return Ok(Frame::Array(vec![bulk_str("pong"), Frame::Bulk(msg)]).into());
    }
    match args.left() {
        0 => Ok(simple("PONG").into()),
        1 => Ok(Frame::Bulk(args.need()?).into()),
        _ => Err(wrong_arity("ping")),
    }
}
