//! TYPE key
use super::args::{Args, CmdResult, Ctx, simple};

/// The key's type, or `none`.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    Ok(simple(
        ctx.engine
            .key_type(ctx.db(), &key)?
            .map_or("none", |t| t.as_str()),
    )
    .into())
}
