//! XACK key group id [id ...]
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use crate::engine::id::StreamId;
use crate::error::EngineError;
use crate::resp::frame::Frame;

/// XACK.
pub struct XAck {
    key: Bytes,
    group: Bytes,
    /// The IDs; a bad one is reported only when the key and group exist,
    /// as Redis does (a missing group acknowledges nothing, IDs unread).
    ids: Result<Vec<StreamId>, CmdError>,
}

impl XAck {
    /// # Format
    ///
    /// `key group id [id ...]`, each ID `ms[-seq]`.
    pub fn parse(args: &mut Args) -> Result<XAck, CmdError> {
        let key = args.need()?;
        let group = args.need()?;
        let ids = args
            .rest()
            .iter()
            .map(|id| StreamId::parse(id, 0).ok_or_else(|| EngineError::InvalidId.into()))
            .collect();
        Ok(XAck { key, group, ids })
    }

    /// Acknowledges the IDs; the number that were pending.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let Some(s) = ctx.engine.stream(ctx.db(), &self.key)? else {
            return Ok(Frame::Integer(0).into());
        };
        if !s.has_group(&self.group) {
            return Ok(Frame::Integer(0).into());
        }
        let (n, commits) = s.ack(&self.group, &self.ids?)?;
        Ok(Outcome::Durable(
            Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
            commits,
        ))
    }
}

/// Runs XACK.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XAck::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> XAck {
        let items = std::iter::once("XACK")
            .chain(line.split(' '))
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        XAck::parse(&mut Args::new(items)).unwrap()
    }

    #[test]
    fn ids() {
        assert_eq!(
            parse("k g 1 2-3").ids,
            Ok(vec![StreamId::new(1, 0), StreamId::new(2, 3)])
        );
        // Bad IDs wait for the group check.
        let bad = "ERR Invalid stream ID specified as stream command argument";
        assert_eq!(parse("k g 1-0 zz").ids.unwrap_err().0, bad);
        assert_eq!(parse("k g +").ids.unwrap_err().0, bad);
    }
}
