//! Reply shapes shared by the stream commands, as Redis 7 builds them.

use bytes::{Bytes, BytesMut};

use crate::engine::entry::StreamEntry;
use crate::engine::groups::MaybeEntry;
use crate::engine::id::StreamId;
use crate::engine::stream::EntryRef;
use crate::resp::frame::{self, Frame};

/// Writes an ID as a bulk string.
fn put_id(out: &mut BytesMut, id: StreamId) {
    out.extend_from_slice(id_bulk(id).as_slice());
}

/// An ID as a bulk string, built on the stack: `$len`, CRLF, `ms-seq`,
/// CRLF. The longest is 2 × 20 digits and a dash.
struct IdBulk {
    buf: [u8; 52],
    len: usize,
}

impl IdBulk {
    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn id_bulk(id: StreamId) -> IdBulk {
    let mut text = [0u8; 41];
    let mut n = frame::decimal_at(&mut text, id.ms);
    text[n] = b'-';
    n += 1;
    n += frame::decimal_at(&mut text[n..], id.seq);
    let mut buf = [0u8; 52];
    buf[0] = b'$';
    let mut len = 1 + frame::decimal_at(&mut buf[1..], n as u64);
    buf[len..len + 2].copy_from_slice(b"\r\n");
    len += 2;
    buf[len..len + n].copy_from_slice(&text[..n]);
    len += n;
    buf[len..len + 2].copy_from_slice(b"\r\n");
    IdBulk { buf, len: len + 2 }
}

/// Writes `[id, [field, value, ...]]`, or `[id, nil]` for a deleted entry.
fn put_entry(out: &mut BytesMut, id: StreamId, fields: Option<&[(Bytes, Bytes)]>, resp3: bool) {
    out.extend_from_slice(b"*2\r\n");
    put_id(out, id);
    match fields {
        Some(f) => {
            frame::header(out, b'*', 2 * f.len() as i64);
            for (k, v) in f {
                frame::bulk(out, k);
                frame::bulk(out, v);
            }
        }
        None if resp3 => out.extend_from_slice(b"_\r\n"),
        None => out.extend_from_slice(b"*-1\r\n"),
    }
}

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

/// Writes an entry as [`crate::engine::stream::Stream::range_each`] gives
/// it: `[id, [field, value, ...]]`.
pub fn put_visited(out: &mut BytesMut, e: &EntryRef<'_>) {
    // Room for the whole entry at once: headers are at most 26 bytes.
    let body: usize = e
        .names
        .iter()
        .zip(e.values)
        .map(|(n, r)| n.len() + r.len() + 52)
        .sum();
    out.reserve(body + 4 + 52 + 26);
    out.extend_from_slice(b"*2\r\n");
    put_id(out, e.id);
    frame::header(out, b'*', 2 * e.names.len() as i64);
    for (name, r) in e.names.iter().zip(e.values) {
        frame::bulk(out, name);
        frame::bulk(out, e.value(r));
    }
}

/// Room left at the start of a body for its array header.
pub const HEADER_ROOM: usize = 24;

/// A buffer for the elements of an array whose length is known only at
/// the end: it starts with room for the header.
pub fn array_body(capacity: usize) -> BytesMut {
    let mut b = BytesMut::with_capacity(capacity + HEADER_ROOM);
    b.extend_from_slice(&[0; HEADER_ROOM]);
    b
}

/// The array of `n` elements encoded in `body` (made by [`array_body`]):
/// its header goes in the room left for it, nothing is copied.
pub fn raw_array(n: usize, mut body: BytesMut) -> Frame {
    let (line, len) = frame::header_bytes(b'*', n as i64);
    let at = HEADER_ROOM - len;
    body[at..HEADER_ROOM].copy_from_slice(&line[..len]);
    let _ = body.split_to(at);
    Frame::Raw(body.freeze())
}

/// A list of entries, encoded at once (the same bytes in RESP2 and RESP3).
pub fn entries(es: &[StreamEntry]) -> Frame {
    let mut out = BytesMut::with_capacity(64 + es.len() * 64);
    frame::header(&mut out, b'*', es.len() as i64);
    for e in es {
        put_entry(&mut out, e.id, Some(&e.fields), false);
    }
    Frame::Raw(out.freeze())
}

/// A list of group-read entries, encoded at once.
fn maybe_entries(es: &[MaybeEntry], resp3: bool) -> Frame {
    let mut out = BytesMut::with_capacity(64 + es.len() * 64);
    frame::header(&mut out, b'*', es.len() as i64);
    for e in es {
        put_entry(&mut out, e.0, e.1.as_deref(), resp3);
    }
    Frame::Raw(out.freeze())
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
    let list = |es: Vec<MaybeEntry>| maybe_entries(&es, resp3);
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
