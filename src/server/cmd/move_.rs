//! MOVE key db
use super::args::{Args, CmdError, CmdResult, Ctx};
use crate::resp::frame::Frame;
use crate::server::events as ev;

/// Moves a key to another database: 1 if moved, 0 if not.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let to = args.i64()?;
    if to < 0 || to as usize >= ctx.engine.databases() {
        return Err(CmdError::err("DB index is out of range"));
    }
    let moved = ctx.engine.move_key(ctx.db(), &key, to as usize)?;
    if moved {
        ctx.shared.watched.touch(to as usize, &key);
        ctx.wake_in(to as usize, &key, &[]);
        ctx.notify(ev::GENERIC, "move_from", &key);
        ev::emit(ctx.shared, ev::GENERIC, "move_to", to as usize, &key);
    }
    Ok(Frame::Integer(i64::from(moved)).into())
}
