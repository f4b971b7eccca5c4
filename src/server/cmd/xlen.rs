//! XLEN key

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// XLEN: the number of entries in a stream.
#[derive(Debug, PartialEq)]
pub struct XLen {
    key: Bytes,
}

impl XLen {
    /// # Format
    ///
    /// `XLEN key`
    pub fn parse(args: &mut Args) -> Result<XLen, CmdError> {
        let key = args.need()?;
        args.end()?;
        Ok(XLen { key })
    }

    /// The stream's length; 0 for a missing key.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let n = ctx
            .engine
            .stream(ctx.db(), &self.key)?
            .map_or(0, |s| s.len());
        Ok(Frame::Integer(n as i64).into())
    }
}

/// Runs XLEN.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XLen::parse(&mut args)?.apply(ctx)
}
