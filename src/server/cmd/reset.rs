//! RESET
use std::sync::atomic::Ordering;

use super::args::{Args, CmdResult, Ctx, simple};
use crate::resp::frame::Protocol;
use crate::server::client::ReplyMode;
use crate::server::shared::lock;

/// Back to a fresh connection's state: database 0, RESP2, no name, no
/// MULTI, no WATCH, replies on, and unauthenticated when a password is set.
pub fn run(ctx: &mut Ctx, _args: Args) -> CmdResult {
    // Out of the registry, then the messages queued before go out ahead
    // of the reply.
    ctx.client.subs.clear(&ctx.shared.pubsub, &ctx.client.info);
    let mut out = bytes::BytesMut::new();
    super::subscribe::drain(ctx, &mut out);
    let c = &mut *ctx.client;
    c.db = 0;
    c.info.db.store(0, Ordering::Relaxed);
    c.protocol = Protocol::Resp2;
    c.info.resp.store(2, Ordering::Relaxed);
    c.multi = None;
    c.multi_dirty = false;
    c.info.multi.store(false, Ordering::Relaxed);
    for (db, key, _) in std::mem::take(&mut c.watching) {
        ctx.shared.watched.unwatch(db, &key);
    }
    c.reply = ReplyMode::On;
    *lock(&c.info.name) = bytes::Bytes::new();
    let pass = ctx
        .shared
        .config()
        .get("requirepass")
        .unwrap_or_default()
        .to_string();
    c.authenticated = pass.is_empty();
    if out.is_empty() {
        return Ok(simple("RESET").into());
    }
    out.extend_from_slice(b"+RESET\r\n");
    Ok(crate::resp::frame::Frame::Raw(out.freeze()).into())
}
