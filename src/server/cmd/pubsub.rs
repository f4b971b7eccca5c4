//! PUBSUB CHANNELS [pattern], NUMSUB [channel ...], NUMPAT,
//! SHARDCHANNELS [pattern], SHARDNUMSUB [shardchannel ...], HELP.

use super::args::{Args, CmdResult, Ctx, bulk_array};
use super::table::{unknown_subcommand, wrong_arity};
use crate::engine::pubsub::Space;
use crate::resp::frame::Frame;

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
];

/// Runs PUBSUB.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let sub = args.need()?;
    let name = String::from_utf8_lossy(&sub).to_ascii_lowercase();
    let ps = &ctx.shared.pubsub;
    let channels = |args: &mut Args, space: Space| -> CmdResult {
        if args.left() > 1 {
            return Err(wrong_arity(&format!("pubsub|{name}")));
        }
        let pattern = args.next();
        Ok(bulk_array(ps.active(space, pattern.as_deref())).into())
    };
    let numsub = |args: &mut Args, space: Space| -> CmdResult {
        let mut out = Vec::new();
        for ch in args.rest() {
            let n = ps.count(space, &ch);
            out.push(Frame::Bulk(ch));
            out.push(Frame::Integer(n as i64));
        }
        Ok(Frame::Array(out).into())
    };
    match name.as_str() {
        "channels" => channels(&mut args, Space::Channel),
        "shardchannels" => channels(&mut args, Space::Shard),
        "numsub" => numsub(&mut args, Space::Channel),
        "shardnumsub" => numsub(&mut args, Space::Shard),
        "numpat" if args.left() == 0 => Ok(Frame::Integer(ps.names(Space::Pattern) as i64).into()),
        "numpat" => Err(wrong_arity("pubsub|numpat")),
        "help" => Ok(Frame::Array(
            HELP.iter()
                .map(|l| Frame::Simple(l.as_bytes().to_vec().into()))
                .collect(),
        )
        .into()),
        _ => Err(unknown_subcommand("PUBSUB", &sub)),
    }
}
