//! PUBLISH channel message, SPUBLISH shardchannel message.

use super::args::{Args, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// Runs PUBLISH: the number of subscriptions the message reached.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let channel = args.need()?;
    let message = args.need()?;
    let n = ctx.shared.pubsub.publish(&channel, &message, ctx.now_ms);
    Ok(Frame::Integer(n as i64).into())
}

/// Runs SPUBLISH (one node: the shard channel's subscribers).
pub fn run_spublish(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let channel = args.need()?;
    let message = args.need()?;
    let n = ctx.shared.pubsub.spublish(&channel, &message, ctx.now_ms);
    Ok(Frame::Integer(n as i64).into())
}
