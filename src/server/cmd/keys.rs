//! KEYS pattern
use super::args::{Args, CmdResult, Ctx, bulk_array};

/// Every key matching the glob pattern.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let pattern = args.need()?;
    Ok(bulk_array(ctx.engine.keys(ctx.db(), &pattern)?).into())
}
