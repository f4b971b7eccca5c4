//! RENAME key newkey, RENAMENX key newkey
use super::args::{Args, CmdResult, Ctx};
use crate::resp::frame::Frame;
use crate::server::events as ev;

fn rename(ctx: &mut Ctx, mut args: Args, nx: bool) -> Result<bool, super::args::CmdError> {
    let key = args.need()?;
    let new_key = args.need()?;
    let done = ctx.engine.rename(ctx.db(), &key, &new_key, nx)?;
    if done {
        ctx.shared.watched.touch(ctx.db(), &key);
        ctx.shared.watched.touch(ctx.db(), &new_key);
        ctx.notify(ev::GENERIC, "rename_from", &key);
        ctx.notify(ev::GENERIC, "rename_to", &new_key);
        // Readers blocked on the new name see its new stream.
        ctx.wake(&new_key, &[]);
    }
    Ok(done)
}

/// RENAME: OK; the destination is replaced.
pub fn run(ctx: &mut Ctx, args: Args) -> CmdResult {
    rename(ctx, args, false)?;
    Ok(Frame::ok().into())
}

/// RENAMENX: 1 if renamed, 0 if the destination exists.
pub fn run_nx(ctx: &mut Ctx, args: Args) -> CmdResult {
    Ok(Frame::Integer(i64::from(rename(ctx, args, true)?)).into())
}
