//! The sparse index: a sidecar file per segment mapping keys to positions,
//! one entry per `index_interval_bytes` of segment (like Kafka's
//! `index.interval.bytes`). It is derived data: a missing, short or damaged
//! index is rebuilt from its segment.
//!
//! File layout (little-endian; `docs/format.md` is the normative copy):
//! a 64-byte header, then 24-byte entries.
//!
//! | offset | size | header field |
//! |---:|---:|---|
//! | 0 | 8 | magic `BROOKIDX` |
//! | 8 | 2 | format version (1) |
//! | 10 | 2 | header length (64) |
//! | 12 | 4 | index interval in bytes |
//! | 16 | 16 | base key of the segment (u128) |
//! | 32 | 28 | reserved, zero |
//! | 60 | 4 | CRC32 of bytes 0..60 |
//!
//! | offset | size | entry field |
//! |---:|---:|---|
//! | 0 | 16 | key of the record at `pos` |
//! | 16 | 4 | pos: byte position in the segment; bit 31 set marks the seal entry |
//! | 20 | 4 | CRC32 of bytes 0..20 |
//!
//! Invariants: keys and positions strictly increase. The seal entry, written
//! when the segment rolls, is last; its key is the segment's last key and its
//! position the segment's length. A segment whose index ends in a seal entry
//! matching its length needs no scan to open.

use byteorder::{ByteOrder, LittleEndian};

/// Magic number at the start of an index file.
pub const INDEX_MAGIC: [u8; 8] = *b"BROOKIDX";
/// Format version of index files.
pub const INDEX_VERSION: u16 = 1;
/// Bytes of the index header.
pub const INDEX_HEADER_BYTES: usize = 64;
/// Bytes of one index entry.
pub const INDEX_ENTRY_BYTES: usize = 24;
/// Bit of `pos` that marks the seal entry.
pub const SEAL_BIT: u32 = 1 << 31;

/// One index point: the record at `pos` has key `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Key of the record.
    pub key: u128,
    /// Position of the record in its segment.
    pub pos: u32,
}

/// Encodes the index header.
pub fn encode_header(base: u128, interval: u32) -> [u8; INDEX_HEADER_BYTES] {
    let mut h = [0u8; INDEX_HEADER_BYTES];
    h[0..8].copy_from_slice(&INDEX_MAGIC);
    LittleEndian::write_u16(&mut h[8..], INDEX_VERSION);
    LittleEndian::write_u16(&mut h[10..], INDEX_HEADER_BYTES as u16);
    LittleEndian::write_u32(&mut h[12..], interval);
    LittleEndian::write_u128(&mut h[16..], base);
    let crc = crc32fast::hash(&h[..60]);
    LittleEndian::write_u32(&mut h[60..], crc);
    h
}

/// Checks an index header against the segment's base key. An index that
/// fails is discarded and rebuilt, so only a yes or no is needed.
pub fn header_ok(h: &[u8], base: u128) -> bool {
    h.len() >= INDEX_HEADER_BYTES
        && h[0..8] == INDEX_MAGIC
        && LittleEndian::read_u16(&h[8..]) == INDEX_VERSION
        && LittleEndian::read_u16(&h[10..]) as usize == INDEX_HEADER_BYTES
        && LittleEndian::read_u128(&h[16..]) == base
        && LittleEndian::read_u32(&h[60..]) == crc32fast::hash(&h[..60])
}

/// Appends the encoding of one entry to `buf`.
pub fn encode_entry(buf: &mut Vec<u8>, key: u128, pos: u32) {
    let start = buf.len();
    buf.extend_from_slice(&key.to_le_bytes());
    buf.extend_from_slice(&pos.to_le_bytes());
    let crc = crc32fast::hash(&buf[start..start + 20]);
    buf.extend_from_slice(&crc.to_le_bytes());
}

/// What an index file's entries say, once checked.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    /// The valid index points, in order.
    pub entries: Vec<IndexEntry>,
    /// `(last key, segment length)` when a valid seal entry ends the file.
    pub seal: Option<(u128, u32)>,
}

/// Decodes the entries that follow the header, stopping at the first entry
/// that fails its CRC, breaks the order, or points outside `[min_pos,
/// seg_len]`. Whatever follows such an entry is ignored (and rebuilt).
pub fn decode_entries(mut buf: &[u8], min_pos: u32, seg_len: u64) -> Decoded {
    let mut out = Decoded::default();
    while let Some(e) = buf.get(..INDEX_ENTRY_BYTES) {
        buf = &buf[INDEX_ENTRY_BYTES..];
        if LittleEndian::read_u32(&e[20..]) != crc32fast::hash(&e[..20]) {
            break;
        }
        let key = LittleEndian::read_u128(&e[0..]);
        let raw = LittleEndian::read_u32(&e[16..]);
        let pos = raw & !SEAL_BIT;
        if let Some(prev) = out.entries.last() {
            if key <= prev.key || pos <= prev.pos {
                break;
            }
        }
        if pos < min_pos || u64::from(pos) > seg_len {
            break;
        }
        if raw & SEAL_BIT != 0 {
            out.seal = Some((key, pos));
            break;
        }
        out.entries.push(IndexEntry { key, pos });
    }
    out
}

/// The entry to start a forward scan from to find the first record with key
/// `>= key` or the last with key `<= key`: the last entry whose key is `<=
/// key`.
pub fn floor_by_key(entries: &[IndexEntry], key: u128) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| e.key <= key);
    n.checked_sub(1).map(|i| entries[i])
}

/// The last entry strictly before position `pos`.
pub fn floor_by_pos(entries: &[IndexEntry], pos: u32) -> Option<IndexEntry> {
    let n = entries.partition_point(|e| e.pos < pos);
    n.checked_sub(1).map(|i| entries[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_stop_at_damage() {
        let mut buf = Vec::new();
        encode_entry(&mut buf, 10, 64);
        encode_entry(&mut buf, 20, 5000);
        encode_entry(&mut buf, 30, SEAL_BIT | 9000);
        let d = decode_entries(&buf, 64, 9000);
        assert_eq!(d.entries.len(), 2);
        assert_eq!(d.seal, Some((30, 9000)));
        // A damaged second entry hides it and everything after it.
        let mut bad = buf.clone();
        bad[INDEX_ENTRY_BYTES + 3] ^= 0xff;
        let d = decode_entries(&bad, 64, 9000);
        assert_eq!(d.entries, vec![IndexEntry { key: 10, pos: 64 }]);
        assert_eq!(d.seal, None);
        // An entry past the segment's end is not trusted.
        assert_eq!(decode_entries(&buf, 64, 4000).entries.len(), 1);
    }

    #[test]
    fn floors() {
        let e = [
            IndexEntry { key: 10, pos: 100 },
            IndexEntry { key: 20, pos: 200 },
        ];
        assert_eq!(floor_by_key(&e, 5), None);
        assert_eq!(floor_by_key(&e, 10).map(|e| e.pos), Some(100));
        assert_eq!(floor_by_key(&e, 25).map(|e| e.pos), Some(200));
        assert_eq!(floor_by_pos(&e, 100), None);
        assert_eq!(floor_by_pos(&e, 150).map(|e| e.pos), Some(100));
    }

    #[test]
    fn header() {
        let h = encode_header(7, 4096);
        assert!(header_ok(&h, 7));
        assert!(!header_ok(&h, 8));
        let mut bad = h;
        bad[20] ^= 1;
        assert!(!header_ok(&bad, 7));
    }
}
