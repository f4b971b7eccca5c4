//! XDEL key id [id ...]
//!
//! As in Redis, the key is looked up before the IDs are checked: a missing
//! key answers 0 whatever the IDs, and no ID is deleted unless all parse.

use crate::server::events as ev;
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use crate::engine::id::StreamId;
use crate::error::EngineError;
use crate::resp::frame::Frame;

/// XDEL: deletes entries by ID.
#[derive(Debug, PartialEq)]
pub struct XDel {
    key: Bytes,
    /// The IDs, or the error of the first that does not parse (reported
    /// once the key is found).
    ids: Result<Vec<StreamId>, CmdError>,
}

impl XDel {
    /// # Format
    ///
    /// `XDEL key id [id ...]`: each ID `ms-seq` or `ms`.
    pub fn parse(args: &mut Args) -> Result<XDel, CmdError> {
        let key = args.need()?;
        let ids = args
            .rest()
            .iter()
            .map(|b| StreamId::parse(b, 0).ok_or_else(|| EngineError::InvalidId.into()))
            .collect();
        Ok(XDel { key, ids })
    }

    /// The number of entries deleted, once durable.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let Some(s) = ctx.engine.stream(ctx.db(), &self.key)? else {
            return Ok(Frame::Integer(0).into());
        };
        let (n, commits) = s.delete(&self.ids?)?;
        if n > 0 {
            ctx.notify(ev::STREAM, "xdel", &self.key);
        }
        Ok(Outcome::Durable(Frame::Integer(n as i64), commits))
    }
}

/// Runs XDEL.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XDel::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> XDel {
        let items = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        XDel::parse(&mut Args::new(items)).unwrap()
    }

    #[test]
    fn a_bad_id_is_kept_for_after_the_lookup() {
        assert_eq!(
            parse("XDEL s 1 2-3").ids,
            Ok(vec![StreamId::new(1, 0), StreamId::new(2, 3)])
        );
        let bad = parse("XDEL s 1 + 2").ids.unwrap_err();
        assert_eq!(
            bad.0,
            "ERR Invalid stream ID specified as stream command argument"
        );
    }
}
