//! TIME
use super::args::{Args, CmdResult, Ctx, bulk_str};
use crate::resp::frame::Frame;

/// Seconds and microseconds since the epoch.
pub fn run(_ctx: &mut Ctx, _args: Args) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Ok(Frame::Array(vec![
        bulk_str(&now.as_secs().to_string()),
        bulk_str(&now.subsec_micros().to_string()),
    ])
    .into())
}
