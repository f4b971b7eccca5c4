//! SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, SSUBSCRIBE and
//! SUNSUBSCRIBE. Each name gets its own confirmation, a push of
//! `[kind, name, count]`, so one command answers several frames.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};

use super::args::{Args, CmdResult, Ctx};
use crate::engine::pubsub::{Message, Space};
use crate::resp::frame::{self, Frame, Protocol};
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

/// A (un)subscribe confirmation, `[kind, name, n]`.
fn confirm(ctx: &Ctx, out: &mut BytesMut, space: Space, sub: bool, name: Frame, n: usize) {
    let n = n as i64;
    let push = Frame::Push(vec![
        Frame::Bulk(Bytes::from_static(word(space, sub).as_bytes())),
        name,
        Frame::Integer(n),
    ]);
    push.encode_into(out, ctx.client.protocol);
}

/// Writes a message's push up to its payload's bulk header:
/// `[message, channel, payload]`, `[pmessage, pattern, channel, payload]`
/// or `[smessage, channel, payload]`. The caller writes the payload and
/// CRLF (from where it is, when it is large).
pub fn message_head(out: &mut BytesMut, m: &Message, resp3: bool) {
    let kind: &[u8] = match m.space {
        Space::Channel => b"message",
        Space::Pattern => b"pmessage",
        Space::Shard => b"smessage",
    };
    let n = if m.pattern.is_some() { 4 } else { 3 };
    frame::header(out, if resp3 { b'>' } else { b'*' }, n);
    frame::bulk(out, kind);
    if let Some(p) = &m.pattern {
        frame::bulk(out, p);
    }
    frame::bulk(out, m.channel());
    frame::header(out, b'$', m.payload().len() as i64);
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
        let n = ctx.client.subs.count(space);
        confirm(ctx, &mut out, space, true, Frame::Bulk(name), n);
    }
    publish_counts(ctx, space);
    Ok(Frame::Raw(out.freeze()).into())
}

/// Encodes the messages already queued for the client into `out`: they
/// were published before what comes next (an unsubscribe, a RESET), so a
/// RESP2 client out of subscribed mode never sees one after.
pub fn drain(ctx: &mut Ctx, out: &mut BytesMut) {
    let proto = ctx.client.protocol;
    let Some(inbox) = ctx.client.subs.inbox.as_mut() else {
        return;
    };
    let resp3 = proto == Protocol::Resp3;
    while let Some(m) = inbox.try_recv() {
        message_head(out, &m, resp3);
        out.extend_from_slice(m.payload());
        out.extend_from_slice(b"\r\n");
    }
}

fn unsubscribe(ctx: &mut Ctx, mut args: Args, space: Space) -> CmdResult {
    let slot = Subs::slot(space);
    let mut names = args.rest();
    if names.is_empty() {
        names = ctx.client.subs.names[slot].iter().cloned().collect();
    }
    // Out of the registry first, then what was queued meanwhile goes out
    // ahead of the confirmations: nothing for these names comes after.
    let mut counts = Vec::with_capacity(names.len());
    for name in &names {
        if ctx.client.subs.names[slot].remove(name) {
            ctx.shared
                .pubsub
                .unsubscribe(space, name, ctx.client.info.id);
        }
        counts.push(ctx.client.subs.count(space));
    }
    let mut out = BytesMut::new();
    drain(ctx, &mut out);
    if names.is_empty() {
        confirm(ctx, &mut out, space, false, Frame::Null, 0);
    }
    for (name, n) in names.into_iter().zip(counts) {
        confirm(ctx, &mut out, space, false, Frame::Bulk(name), n);
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
