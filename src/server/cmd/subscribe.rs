//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE and
//! SUNSUBSCRIBE. Each name gets its own confirmation, a push of
//! `[kind, name, count]`, so one command answers several frames.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};

use super::args::{Args, CmdResult, Ctx};
use crate::engine::pubsub::Space;
use crate::resp::frame::Frame;
use crate::server::client::Subs;

fn word(space: Space, sub: bool) -> &'static str {
    match (space, sub) {
        (Space::Channel, true) => "subscribe",
        (Space::Channel, false) => "unsubscribe",
        (Space::Pattern, true) => "psubscribe",
        (Space::Pattern, false) => "punsubscribe",
        (Space::Shard, true) => "ssubscribe",
        (Space::Shard, false) => "sunsubscribe",
    }
}

fn confirm(ctx: &Ctx, out: &mut BytesMut, space: Space, sub: bool, name: Frame) {
    let n = ctx.client.subs.count(space) as i64;
    let push = Frame::Push(vec![
        Frame::Bulk(Bytes::from_static(word(space, sub).as_bytes())),
        name,
        Frame::Integer(n),
    ]);
    push.encode_into(out, ctx.client.protocol);
}

fn publish_counts(ctx: &Ctx, space: Space) {
    let slot = Subs::slot(space);
    let n = ctx.client.subs.names[slot].len();
    ctx.client.info.subs[slot].store(n, Ordering::Relaxed);
}

fn subscribe(ctx: &mut Ctx, mut args: Args, space: Space) -> CmdResult {
    let id = ctx.client.info.id;
    let mailbox = match &ctx.client.subs.inbox {
        Some(inbox) => inbox.mailbox().clone(),
        None => {
            let (mailbox, inbox) = ctx.shared.pubsub.mailbox(id);
            ctx.client.subs.inbox = Some(inbox);
            mailbox
        }
    };
    let mut out = BytesMut::new();
    for name in args.rest() {
        // Kept for as long as the subscription: a copy, not a slice of the
        // request's buffer.
        let name = Bytes::copy_from_slice(&name);
        if ctx.client.subs.names[Subs::slot(space)].insert(name.clone()) {
            ctx.shared.pubsub.subscribe(space, name.clone(), &mailbox);
        }
        confirm(ctx, &mut out, space, true, Frame::Bulk(name));
    }
    publish_counts(ctx, space);
    Ok(Frame::Raw(out.freeze()).into())
}

fn unsubscribe(ctx: &mut Ctx, mut args: Args, space: Space) -> CmdResult {
    let slot = Subs::slot(space);
    let mut names = args.rest();
    if names.is_empty() {
        names = ctx.client.subs.names[slot].iter().cloned().collect();
    }
    let mut out = BytesMut::new();
    if names.is_empty() {
        confirm(ctx, &mut out, space, false, Frame::Null);
    }
    for name in names {
        if ctx.client.subs.names[slot].remove(&name) {
            ctx.shared
                .pubsub
                .unsubscribe(space, &name, ctx.client.info.id);
        }
        confirm(ctx, &mut out, space, false, Frame::Bulk(name));
    }
    publish_counts(ctx, space);
    Ok(Frame::Raw(out.freeze()).into())
}

/// Runs SUBSCRIBE channel [channel ...].
pub fn run_subscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    subscribe(ctx, args, Space::Channel)
}

/// Runs UNSUBSCRIBE [channel ...]: every channel when none is named.
pub fn run_unsubscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    unsubscribe(ctx, args, Space::Channel)
}

/// Runs PSUBSCRIBE pattern [pattern ...].
pub fn run_psubscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    subscribe(ctx, args, Space::Pattern)
}

/// Runs PUNSUBSCRIBE [pattern ...].
pub fn run_punsubscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    unsubscribe(ctx, args, Space::Pattern)
}

/// Runs SSUBSCRIBE shardchannel [shardchannel ...].
pub fn run_ssubscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    subscribe(ctx, args, Space::Shard)
}

/// Runs SUNSUBSCRIBE [shardchannel ...].
pub fn run_sunsubscribe(ctx: &mut Ctx, args: Args) -> CmdResult {
    unsubscribe(ctx, args, Space::Shard)
}
