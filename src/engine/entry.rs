//! Stream entries as records of the stream's log, and the emulation of
//! Redis's listpack nodes that decides where `~` trimming may cut.
//!
//! # Record
//! The record key is the entry ID ([`StreamId::key`]); the kind byte is
//! `KIND_ENTRY` with two flag bits:
//! - [`FLAG_NODE_START`]: the entry opened a new Redis node (see below);
//! - [`FLAG_SAME_FIELDS`]: the entry has the same field names as the last
//!   entry that spelled its own, and they are not repeated.
//!
//! The payload is `ordinal` (varint: this entry's number in the stream's
//! history, 1 for the first ever added, the `entries-added` counter after
//! it), then, without `SAME_FIELDS`, the field count and the field names,
//! then the values (each length-prefixed).
//!
//! An entry spells its fields when it starts a node, when its names differ,
//! or every [`MAX_SHARED_RUN`] entries, so a reader finds the names within
//! that many records back.
//!
//! # Nodes
//! Redis keeps a stream as listpacks of at most `stream-node-max-entries`
//! entries and `stream-node-max-bytes` bytes, and approximate trimming
//! removes only whole listpacks. Brook computes the byte size each listpack
//! would have ([`lp_int`], [`lp_str`]) so that it starts nodes where Redis
//! would, and records the start in the entry.

use bytes::Bytes;

use super::codec::{self, Malformed, Reader};
use super::id::StreamId;

/// Kind byte of an entry record; the low two bits are flags.
pub const KIND_ENTRY: u8 = 0x10;
/// Flag: the entry starts a node.
pub const FLAG_NODE_START: u8 = 1;
/// Flag: the field names are those of the last entry that spelled them.
pub const FLAG_SAME_FIELDS: u8 = 2;
/// Longest run of entries sharing one spelled-out set of field names.
pub const MAX_SHARED_RUN: u32 = 128;
/// Redis's largest listpack (`STREAM_LISTPACK_MAX_SIZE`).
pub const LISTPACK_MAX_BYTES: u64 = 1 << 30;

/// True for the kind bytes of entry records.
pub fn is_entry_kind(kind: u8) -> bool {
    kind & !3 == KIND_ENTRY
}

/// A stream entry: its ID and field/value pairs (zero-copy views when read
/// from the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry's ID.
    pub id: StreamId,
    /// Field/value pairs, in the order they were added.
    pub fields: Vec<(Bytes, Bytes)>,
}

/// Appends an entry's payload to `buf`; returns the kind byte.
pub fn encode_into(
    buf: &mut Vec<u8>,
    ordinal: u64,
    node_start: bool,
    shared: Option<&[Bytes]>,
    fields: &[(Bytes, Bytes)],
) -> u8 {
    codec::put_u64(buf, ordinal);
    let same = !node_start
        && shared.is_some_and(|names| {
            names.len() == fields.len() && names.iter().zip(fields).all(|(n, (f, _))| n == f)
        });
    if !same {
        codec::put_u64(buf, fields.len() as u64);
        for (f, _) in fields {
            codec::put_bytes(buf, f);
        }
    }
    for (_, v) in fields {
        codec::put_bytes(buf, v);
    }
    KIND_ENTRY | (u8::from(node_start) * FLAG_NODE_START) | (u8::from(same) * FLAG_SAME_FIELDS)
}

/// An entry record decoded, before its names are resolved.
pub struct Decoded {
    /// The entry's ordinal.
    pub ordinal: u64,
    /// The field names, when the record spells them.
    pub names: Option<Vec<Bytes>>,
    /// The values.
    pub values: Vec<Bytes>,
}

/// Decodes an entry record's payload.
pub fn decode(kind: u8, payload: Bytes) -> Result<Decoded, Malformed> {
    let max = payload.len();
    let mut r = Reader::new(payload);
    let ordinal = r.u64()?;
    let names = if kind & FLAG_SAME_FIELDS == 0 {
        let n = r.len(max)?;
        let mut names = Vec::with_capacity(n);
        for _ in 0..n {
            names.push(r.bytes()?);
        }
        Some(names)
    } else {
        None
    };
    let mut values = Vec::new();
    while !r.is_empty() {
        values.push(r.bytes()?);
    }
    if let Some(n) = &names {
        if n.len() != values.len() {
            return Err(Malformed);
        }
    }
    Ok(Decoded {
        ordinal,
        names,
        values,
    })
}

/// Decodes an entry record's payload without a handle per value: the
/// names, when the record spells them, replace `names` (the set later
/// records share); `values` gets where each value is in `payload`.
pub fn decode_ranges(
    kind: u8,
    payload: &[u8],
    names: &mut Option<Vec<Bytes>>,
    values: &mut Vec<std::ops::Range<usize>>,
) -> Result<(), Malformed> {
    let max = payload.len();
    let mut r = Reader::new(payload);
    r.u64()?;
    if kind & FLAG_SAME_FIELDS == 0 {
        let n = r.len(max)?;
        let mut spelled = Vec::with_capacity(n);
        for _ in 0..n {
            let at = r.range()?;
            spelled.push(Bytes::copy_from_slice(payload.get(at).ok_or(Malformed)?));
        }
        *names = Some(spelled);
    }
    values.clear();
    while !r.is_empty() {
        values.push(r.range()?);
    }
    match names {
        Some(n) if n.len() == values.len() => Ok(()),
        _ => Err(Malformed),
    }
}

/// Pairs decoded values with their names; `shared` is the last spelled set.
pub fn resolve(
    id: StreamId,
    d: Decoded,
    shared: &mut Option<Vec<Bytes>>,
) -> Result<StreamEntry, Malformed> {
    if let Some(n) = d.names {
        *shared = Some(n);
    }
    let names = shared.as_ref().ok_or(Malformed)?;
    if names.len() != d.values.len() {
        return Err(Malformed);
    }
    Ok(StreamEntry {
        id,
        fields: names.iter().cloned().zip(d.values).collect(),
    })
}

/// Bytes of a listpack back-length for an element of `len` bytes.
fn lp_backlen(len: u64) -> u64 {
    match len {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Bytes a listpack integer element takes, back-length included.
pub fn lp_int(v: i64) -> u64 {
    let enc = match v {
        0..=127 => 1,
        -4096..=4095 => 2,
        -32768..=32767 => 3,
        -8388608..=8388607 => 4,
        -2147483648..=2147483647 => 5,
        _ => 9,
    };
    enc + lp_backlen(enc)
}

/// The integer a listpack stores a string as, when it is one
/// (`lpStringToInt64`: optional `-`, digits, no leading zero, fits i64).
fn lp_string_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits[0] == b'0' && s.len() > 1)
    {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Bytes a listpack string element takes, back-length included.
pub fn lp_str(s: &[u8]) -> u64 {
    if let Some(v) = lp_string_int(s) {
        return lp_int(v);
    }
    let n = s.len() as u64;
    let enc = if n < 64 {
        1 + n
    } else if n < 4096 {
        2 + n
    } else {
        5 + n
    };
    enc + lp_backlen(enc)
}

/// The tail node of a stream as Redis would hold it: what XADD needs to
/// decide whether the next entry opens a new node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailNode {
    /// ID of the node's first entry (Redis's master ID).
    pub start: StreamId,
    /// The master entry's field names.
    pub master: Vec<Bytes>,
    /// Entries not deleted.
    pub valid: u64,
    /// Entries marked deleted.
    pub deleted: u64,
    /// Bytes of the entries (not of the master entry).
    pub body: u64,
    /// Redis freed the node (XDEL removed its last valid entry).
    pub removed: bool,
}

impl TailNode {
    /// An empty node that `start` opens; its master fields are `fields`'s
    /// names.
    pub fn new(start: StreamId, fields: &[(Bytes, Bytes)]) -> TailNode {
        TailNode {
            start,
            master: fields.iter().map(|(f, _)| f.clone()).collect(),
            valid: 0,
            deleted: 0,
            body: 0,
            removed: false,
        }
    }

    /// Bytes of the whole listpack: header, master entry, entries, end.
    pub fn lp_bytes(&self) -> u64 {
        7 + self.body
            + lp_int(self.valid as i64)
            + lp_int(self.deleted as i64)
            + lp_int(self.master.len() as i64)
            + self.master.iter().map(|f| lp_str(f)).sum::<u64>()
            + lp_int(0)
    }

    /// Adds an entry to the node's counts.
    pub fn push(&mut self, id: StreamId, fields: &[(Bytes, Bytes)]) {
        let same = self.master.len() == fields.len()
            && self.master.iter().zip(fields).all(|(m, (f, _))| m == f);
        let nf = fields.len() as u64;
        let mut b = lp_int(2) // flags: SAMEFIELDS or none, 1 byte either way
            + lp_int(id.ms.wrapping_sub(self.start.ms) as i64)
            + lp_int(id.seq.wrapping_sub(self.start.seq) as i64);
        if same {
            b += fields.iter().map(|(_, v)| lp_str(v)).sum::<u64>();
            b += lp_int((nf + 3) as i64);
        } else {
            b += lp_int(nf as i64);
            b += fields
                .iter()
                .map(|(f, v)| lp_str(f) + lp_str(v))
                .sum::<u64>();
            b += lp_int((2 * nf + 4) as i64);
        }
        self.body += b;
        self.valid += 1;
    }

    /// True when Redis would put an entry with these fields in a new node.
    pub fn is_full(&self, fields: &[(Bytes, Bytes)], max_entries: u64, max_bytes: u64) -> bool {
        if self.removed {
            return true;
        }
        let max_bytes = if max_bytes == 0 || max_bytes > LISTPACK_MAX_BYTES {
            LISTPACK_MAX_BYTES
        } else {
            max_bytes
        };
        let raw: u64 = fields.iter().map(|(f, v)| (f.len() + v.len()) as u64).sum();
        if self.lp_bytes() + raw >= max_bytes {
            return true;
        }
        max_entries != 0 && self.valid + self.deleted >= max_entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fv(pairs: &[(&str, &str)]) -> Vec<(Bytes, Bytes)> {
        pairs
            .iter()
            .map(|(f, v)| {
                (
                    Bytes::copy_from_slice(f.as_bytes()),
                    Bytes::copy_from_slice(v.as_bytes()),
                )
            })
            .collect()
    }

    #[test]
    fn entries_round_trip_and_share_names() {
        let a = fv(&[("f", "1"), ("g", "two")]);
        let mut buf = Vec::new();
        let k1 = encode_into(&mut buf, 1, true, None, &a);
        assert_eq!(k1, KIND_ENTRY | FLAG_NODE_START);
        let d1 = decode(k1, Bytes::from(buf.clone())).unwrap();
        let names: Vec<Bytes> = a.iter().map(|(f, _)| f.clone()).collect();
        let b = fv(&[("f", "3"), ("g", "")]);
        buf.clear();
        let k2 = encode_into(&mut buf, 2, false, Some(&names), &b);
        assert_eq!(k2, KIND_ENTRY | FLAG_SAME_FIELDS);
        let shared_len = buf.len();
        let d2 = decode(k2, Bytes::from(buf.clone())).unwrap();
        let mut shared = None;
        assert_eq!(
            resolve(StreamId::new(1, 0), d1, &mut shared)
                .unwrap()
                .fields,
            a
        );
        assert_eq!(
            resolve(StreamId::new(1, 1), d2, &mut shared)
                .unwrap()
                .fields,
            b
        );
        buf.clear();
        let k3 = encode_into(&mut buf, 3, false, Some(&names), &fv(&[("h", "x")]));
        assert_eq!(k3, KIND_ENTRY);
        assert!(shared_len < 1 + 1 + 2 + 4 + 2 + 1);
        // A same-fields record with no spelled names before it is malformed.
        let d = decode(k2, Bytes::from(vec![2, 1, b'3', 0])).unwrap();
        assert!(resolve(StreamId::new(1, 1), d, &mut None).is_err());
    }

    #[test]
    fn listpack_sizes() {
        assert_eq!(lp_str(b"bar"), 5);
        assert_eq!(lp_str(b"42"), 2);
        assert_eq!(lp_str(b"042"), 5);
        assert_eq!(lp_str(b"-1"), 3);
        assert_eq!(lp_str(&[b'x'; 100]), 103);
        assert_eq!(lp_int(127), 2);
        assert_eq!(lp_int(128), 3);
        // A fresh node of one entry {foo: bar}: header 6, master count 1,
        // deleted 0, 1 field, "foo", terminator; entry flags, 0, 0, "bar",
        // lp-count 4; end byte.
        let f = fv(&[("foo", "bar")]);
        let mut n = TailNode::new(StreamId::new(1, 0), &f);
        n.push(StreamId::new(1, 0), &f);
        assert_eq!(n.lp_bytes(), 6 + 2 + 2 + 2 + 5 + 2 + 2 + 2 + 2 + 5 + 2 + 1);
    }
}
