//! Keyspace notifications (`notify-keyspace-events`): what a command did
//! to a key, published on `__keyspace@<db>__:<key>` (the event as the
//! message) and `__keyevent@<db>__:<event>` (the key as the message), with
//! Redis's flags and event names.

use bytes::{Bytes, BytesMut};

use super::shared::Shared;
use crate::engine::keyspace::Engine;

/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1 << 0;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: DEL, EXPIRE, RENAME, COPY, MOVE… on any type.
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `x`: a key expired.
pub const EXPIRED: u32 = 1 << 8;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `n`: a key was created.
pub const NEW: u32 = 1 << 13;

/// The classes and their flag characters, in Redis's order.
const CLASSES: &[(char, u32)] = &[
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', 1 << 5),
    ('h', 1 << 6),
    ('z', 1 << 7),
    ('x', EXPIRED),
    ('e', 1 << 9),
    ('t', STREAM),
    ('d', 1 << 12),
];
/// `A`: every class above.
const ALL: u32 = GENERIC
    | STRING
    | LIST
    | (1 << 5)
    | (1 << 6)
    | (1 << 7)
    | EXPIRED
    | (1 << 9)
    | STREAM
    | (1 << 12);
const MISS: u32 = 1 << 11;

/// The flags of a `notify-keyspace-events` value; `None` for a character
/// Redis does not know.
pub fn parse(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            'm' => MISS,
            'n' => NEW,
            c => CLASSES.iter().find(|(ch, _)| *ch == c)?.1,
        };
    }
    Some(flags)
}

/// The value CONFIG GET shows for `flags` (`KEA` reads back as `AKE`).
pub fn format(flags: u32) -> String {
    let mut s = String::new();
    if flags & ALL == ALL {
        s.push('A');
    } else {
        s.extend(
            CLASSES
                .iter()
                .filter(|(_, f)| flags & f != 0)
                .map(|(c, _)| c),
        );
    }
    for (c, f) in [('K', KEYSPACE), ('E', KEYEVENT), ('m', MISS), ('n', NEW)] {
        if flags & f != 0 {
            s.push(c);
        }
    }
    s
}

fn channel(prefix: &str, db: usize, name: &[u8]) -> Bytes {
    let mut c = BytesMut::with_capacity(prefix.len() + name.len() + 8);
    c.extend_from_slice(format!("__{prefix}@{db}__:").as_bytes());
    c.extend_from_slice(name);
    c.freeze()
}

/// Publishes `event` (of `class`) on `key` of `db`, as far as
/// `notify-keyspace-events` asks.
pub fn emit(shared: &Shared, class: u32, event: &str, db: usize, key: &[u8]) {
    let flags = shared.hot.events.load(std::sync::atomic::Ordering::Relaxed);
    if flags & class == 0 {
        return;
    }
    let now = crate::engine::keyspace::now_ms();
    let ev = Bytes::copy_from_slice(event.as_bytes());
    if flags & KEYSPACE != 0 {
        shared
            .pubsub
            .publish(&channel("keyspace", db, key), &ev, now);
    }
    if flags & KEYEVENT != 0 {
        let key = Bytes::copy_from_slice(key);
        shared
            .pubsub
            .publish(&channel("keyevent", db, event.as_bytes()), &key, now);
    }
}

/// Publishes `expired` for the keys the engine removed because they
/// expired (lazily or in the background pass) since the last call.
pub fn emit_expired(shared: &Shared, engine: &Engine) {
    let gone = engine.take_expired();
    if gone.is_empty() {
        return;
    }
    for (db, key) in gone {
        emit(shared, EXPIRED, "expired", db, &key);
    }
}

/// Publishes list event `event` on `key` and, when that emptied the list
/// (which deleted it), the generic `del`.
pub fn emit_list(shared: &Shared, engine: &Engine, event: &str, db: usize, key: &[u8]) {
    emit_list_with(shared, event, db, key, || {
        matches!(engine.key_type(db, key), Ok(None))
    });
}

/// [`emit_list`] where `gone` tells whether the list is gone (read from
/// wherever the caller holds the keyspace).
pub fn emit_list_with(
    shared: &Shared,
    event: &str,
    db: usize,
    key: &[u8],
    gone: impl FnOnce() -> bool,
) {
    let flags = shared.hot.events.load(std::sync::atomic::Ordering::Relaxed);
    if flags & (LIST | GENERIC) == 0 {
        return;
    }
    emit(shared, LIST, event, db, key);
    if flags & GENERIC != 0 && gone() {
        emit(shared, GENERIC, "del", db, key);
    }
}

/// The list event of a pop (`tail`: RPOP) or a push.
pub fn list_side(pop: bool, tail: bool) -> &'static str {
    match (pop, tail) {
        (true, false) => "lpop",
        (true, true) => "rpop",
        (false, false) => "lpush",
        (false, true) => "rpush",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_and_print_as_redis_does() {
        assert_eq!(parse("KEA").map(format).as_deref(), Some("AKE"));
        assert_eq!(parse("Kl").map(format).as_deref(), Some("lK"));
        assert_eq!(parse("Eg$lt").map(format).as_deref(), Some("g$ltE"));
        assert_eq!(parse("").map(format).as_deref(), Some(""));
        assert_eq!(parse("Kq"), None);
        assert_eq!(parse("nKA").map(format).as_deref(), Some("AKn"));
    }
}
