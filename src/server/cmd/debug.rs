//! DEBUG LOG message | SLEEP seconds | RELOAD | HELP
use std::time::Duration;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, bulk_str};
use super::table::unknown_subcommand;
use crate::resp::frame::Frame;

/// The debugging subcommands Brook has.
pub fn run(_ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let sub = args.need()?;
    match &sub.to_ascii_uppercase()[..] {
        b"LOG" => {
            let msg = args.need()?;
            tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(&msg));
            Ok(Frame::ok().into())
        }
        b"SLEEP" => {
            let s = args.need()?;
            let secs: f64 = std::str::from_utf8(&s)
                .ok()
                .and_then(|t| t.parse().ok())
                .filter(|v: &f64| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| CmdError::err("value is not a valid float"))?;
            Ok(Outcome::Sleep(
                Duration::from_secs_f64(secs.min(1e6)),
                Frame::ok(),
            ))
        }
        b"RELOAD" => Ok(Outcome::Reload),
        b"HELP" => Ok(Frame::Array(
            [
                "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "LOG <message>",
                "SLEEP <seconds>",
                "RELOAD",
                "HELP",
            ]
            .iter()
            .map(|s| bulk_str(s))
            .collect(),
        )
        .into()),
        _ => Err(unknown_subcommand("DEBUG", &sub)),
    }
}
