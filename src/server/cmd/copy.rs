//! COPY source destination [DB destination-db] [REPLACE]
use super::args::{Args, CmdError, CmdResult, Ctx};
use crate::resp::frame::Frame;
use crate::server::events as ev;

/// Copies a stream, its groups, settings and expiry: 1 if copied, 0 if not.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let src = args.need()?;
    let dst = args.need()?;
    let mut to_db = ctx.db();
    let mut replace = false;
    while args.left() > 0 {
        if args.eat("REPLACE") {
            replace = true;
        } else if args.eat("DB") {
            let n = args.i64()?;
            if n < 0 || n as usize >= ctx.engine.databases() {
                return Err(CmdError::err("DB index is out of range"));
            }
            to_db = n as usize;
        } else {
            return Err(CmdError::syntax());
        }
    }
    // A copy reads and writes the whole stream: the other clients move to
    // another thread meanwhile.
    let (engine, db) = (ctx.engine, ctx.db());
    let done = crate::server::shared::blocking(|| engine.copy(db, &src, to_db, &dst, replace))?;
    if done {
        ctx.shared.watched.touch(to_db, &dst);
        ctx.wake_in(to_db, &dst, &[]);
        ev::emit(ctx.shared, ev::GENERIC, "copy_to", to_db, &dst);
    }
    Ok(Frame::Integer(i64::from(done)).into())
}
