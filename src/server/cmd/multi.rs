//! MULTI, EXEC, DISCARD, WATCH key [key ...], UNWATCH.
//!
//! EXEC runs the queued commands one after the other, with no other
//! client's command in between: each command runs under the engine's own
//! locks, and the connection runs them without yielding. Blocking reads in
//! a transaction answer at once. WATCH keeps a version per key, bumped by
//! every write to it; EXEC answers nil when a watched key changed.
use std::sync::atomic::Ordering;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, simple};
use super::table::run_counted;
use crate::resp::frame::Frame;

/// MULTI.
pub fn run_multi(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_dirty = false;
    ctx.client.info.multi.store(true, Ordering::Relaxed);
    Ok(Frame::ok().into())
}

fn end_multi(ctx: &mut Ctx) {
    ctx.client.multi = None;
    ctx.client.multi_dirty = false;
    ctx.client.info.multi.store(false, Ordering::Relaxed);
    unwatch(ctx);
}

fn unwatch(ctx: &mut Ctx) {
    for (db, key, _) in std::mem::take(&mut ctx.client.watching) {
        ctx.shared.watched.unwatch(db, &key);
    }
}

/// EXEC: the replies of the queued commands, or nil if a watched key
/// changed, or EXECABORT if a command was refused while queuing.
pub fn run_exec(ctx: &mut Ctx, _args: Args) -> CmdResult {
    let Some(queue) = ctx.client.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    if ctx.client.multi_dirty {
        end_multi(ctx);
        return Err(CmdError(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    let epoch = ctx.shared.watched.epoch.load(Ordering::Acquire);
    let changed = !ctx.client.watching.is_empty()
        && (epoch != ctx.client.watch_epoch
            || ctx
                .client
                .watching
                .iter()
                .any(|(db, k, v)| ctx.shared.watched.version(*db, k) != *v));
    end_multi(ctx);
    if changed {
        return Ok(Frame::NullArray.into());
    }
    let mut replies = Vec::with_capacity(queue.len());
    let mut commits = Vec::new();
    ctx.in_exec = true;
    for q in queue {
        match run_counted(ctx, q.cmd, q.args) {
            Outcome::Reply(f) | Outcome::Close(f) | Outcome::Sleep(_, f) => replies.push(f),
            Outcome::Durable(f, c) => {
                replies.push(f);
                commits.extend(c);
            }
            Outcome::Block(_) => replies.push(Frame::NullArray),
            Outcome::Shutdown | Outcome::Reload => {
                replies.push(Frame::error("ERR Command not allowed inside a transaction"))
            }
        }
    }
    ctx.in_exec = false;
    Ok(Outcome::Durable(Frame::Array(replies), commits))
}

/// DISCARD.
pub fn run_discard(ctx: &mut Ctx, _args: Args) -> CmdResult {
    if ctx.client.multi.is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    end_multi(ctx);
    Ok(Frame::ok().into())
}

/// WATCH key [key ...].
pub fn run_watch(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    if ctx.client.watching.is_empty() {
        ctx.client.watch_epoch = ctx.shared.watched.epoch.load(Ordering::Acquire);
    }
    let db = ctx.db();
    for k in args.rest() {
        if ctx
            .client
            .watching
            .iter()
            .any(|(d, w, _)| *d == db && *w == k)
        {
            continue;
        }
        let v = ctx.shared.watched.watch(db, &k);
        ctx.client.watching.push((db, k, v));
    }
    Ok(Frame::ok().into())
}

/// UNWATCH.
pub fn run_unwatch(ctx: &mut Ctx, _args: Args) -> CmdResult {
    unwatch(ctx);
    Ok(simple("OK").into())
}
