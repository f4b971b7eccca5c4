//! RANDOMKEY
use super::args::{Args, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// A key of the database picked at random, or nil when it is empty.
pub fn run(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let n = ctx.engine.dbsize(ctx.db())?;
    if n == 0 {
        return Ok(Frame::Null.into());
    }
    // A random cursor: the first key at or after a random hash.
    let seed = std::collections::hash_map::RandomState::new();
    let r = std::hash::BuildHasher::hash_one(&seed, ctx.now_ms);
    let (_, keys) = ctx.engine.scan(ctx.db(), r >> 1, None, 1, None)?;
    let key = match keys.into_iter().next() {
        Some(k) => Some(k),
        None => ctx
            .engine
            .scan(ctx.db(), 0, None, 1, None)?
            .1
            .into_iter()
            .next(),
    };
    Ok(key.map_or(Frame::Null, Frame::Bulk).into())
}
