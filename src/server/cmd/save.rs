//! SAVE, BGSAVE [SCHEDULE], BGREWRITEAOF, LASTSAVE: every write is already
//! in the logs, so "saving" is syncing every log to disk.
use std::sync::atomic::{AtomicU64, Ordering};

use super::args::{Args, CmdError, CmdResult, Ctx, simple};
use crate::resp::frame::Frame;

/// Unix seconds of the last SAVE / BGSAVE / BGREWRITEAOF (0: never).
static LAST_SAVE: AtomicU64 = AtomicU64::new(0);

fn sync(ctx: &Ctx) -> Result<(), CmdError> {
    ctx.engine.sync()?;
    LAST_SAVE.store(ctx.now_ms / 1000, Ordering::Relaxed);
    Ok(())
}

/// SAVE: syncs every log, then OK.
pub fn run(ctx: &mut Ctx, _args: Args) -> CmdResult {
    sync(ctx)?;
    Ok(Frame::ok().into())
}

/// BGSAVE: syncs every log before answering.
pub fn run_bgsave(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    if args.left() > 0 && !args.eat("SCHEDULE") {
        return Err(CmdError::syntax());
    }
    args.end()?;
    sync(ctx)?;
    Ok(simple("Background saving started").into())
}

/// BGREWRITEAOF: syncs every log before answering.
/// BGREWRITEAOF: compacts the journal of lists and strings in the
/// background (streams need no rewrite: their logs are the data).
pub fn run_bgrewriteaof(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if !ctx.engine.compact_memory(false)? {
        return Err(CmdError::err(
            "Background append only file rewriting already in progress",
        ));
    }
    Ok(simple("Background append only file rewriting started").into())
}

/// LASTSAVE: the last sync asked for, or the server's start.
pub fn run_lastsave(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let last = LAST_SAVE.load(Ordering::Relaxed);
    let started = (ctx.now_ms / 1000).saturating_sub(ctx.shared.started.elapsed().as_secs());
    Ok(Frame::Integer(last.max(started) as i64).into())
}
