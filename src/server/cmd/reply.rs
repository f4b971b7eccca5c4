//! Reply shapes shared by the stream commands, as Redis 7 builds them.

use bytes::Bytes;

use crate::engine::entry::StreamEntry;
use crate::engine::groups::MaybeEntry;
use crate::engine::id::StreamId;
use crate::resp::frame::Frame;

/// An ID as a bulk string.
pub fn id(id: StreamId) -> Frame {
    Frame::Bulk(Bytes::from(id.to_string()))
}

/// Field/value pairs as a flat array.
pub fn fields(f: &[(Bytes, Bytes)]) -> Frame {
    let mut out = Vec::with_capacity(f.len() * 2);
    for (k, v) in f {
        out.push(Frame::Bulk(k.clone()));
        out.push(Frame::Bulk(v.clone()));
    }
    Frame::Array(out)
}

/// `[id, [field, value, ...]]`.
pub fn entry(e: &StreamEntry) -> Frame {
    Frame::Array(vec![id(e.id), fields(&e.fields)])
}

/// A list of entries.
pub fn entries(es: &[StreamEntry]) -> Frame {
    Frame::Array(es.iter().map(entry).collect())
}

/// An entry of a group read: `[id, nil]` when it was deleted.
pub fn maybe_entry(e: &MaybeEntry) -> Frame {
    match &e.1 {
        Some(f) => Frame::Array(vec![id(e.0), fields(f)]),
        None => Frame::Array(vec![id(e.0), Frame::NullArray]),
    }
}

/// XREAD's reply: a map of key to entries in RESP3, pairs in RESP2.
pub fn read_reply(streams: Vec<(Bytes, Vec<StreamEntry>)>, resp3: bool) -> Frame {
    if resp3 {
        Frame::Map(
            streams
                .into_iter()
                .map(|(k, es)| (Frame::Bulk(k), entries(&es)))
                .collect(),
        )
    } else {
        Frame::Array(
            streams
                .into_iter()
                .map(|(k, es)| Frame::Array(vec![Frame::Bulk(k), entries(&es)]))
                .collect(),
        )
    }
}

/// XREADGROUP's reply, shaped as XREAD's.
pub fn group_reply(streams: Vec<(Bytes, Vec<MaybeEntry>)>, resp3: bool) -> Frame {
    let list = |es: Vec<MaybeEntry>| Frame::Array(es.iter().map(maybe_entry).collect());
    if resp3 {
        Frame::Map(
            streams
                .into_iter()
                .map(|(k, es)| (Frame::Bulk(k), list(es)))
                .collect(),
        )
    } else {
        Frame::Array(
            streams
                .into_iter()
                .map(|(k, es)| Frame::Array(vec![Frame::Bulk(k), list(es)]))
                .collect(),
        )
    }
}

/// A map in RESP3, a flat array in RESP2 (Frame::Map downgrades itself):
/// built from `(name, value)` pairs.
pub fn map(pairs: Vec<(&str, Frame)>) -> Frame {
    Frame::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Frame::Bulk(Bytes::copy_from_slice(k.as_bytes())), v))
            .collect(),
    )
}
