//! Records: the unit of a log. One CRC per record.
//!
//! Byte layout (little-endian; `docs/format.md` is the normative copy):
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | CRC32 (crc32fast, IEEE) of bytes 4 .. 26 + len |
//! | 4 | 4 | len: payload length in bytes |
//! | 8 | 1 | kind: chosen by the layer above (0 is reserved) |
//! | 9 | 1 | attributes: 0 in version 1 |
//! | 10 | 16 | key: u128, strictly increasing within a log |
//! | 26 | len | payload |
//!
//! Why one CRC per record and not per batch: a torn write then loses only
//! the records it actually tore, each record can be verified and served on
//! its own (a reader never decodes a whole batch to return one entry), and
//! the cost is small since crc32fast runs at many GB/s. Batching still
//! happens where it pays: a batch of records is encoded into one buffer and
//! written with one `pwrite`, and covered by one fdatasync.

use byteorder::{ByteOrder, LittleEndian};

/// Bytes of the record header.
pub const RECORD_HEADER_BYTES: usize = 26;
const CRC_AT: usize = 0;
const LEN_AT: usize = 4;
const KIND_AT: usize = 8;
const ATTR_AT: usize = 9;
const KEY_AT: usize = 10;

/// A record decoded in place: the payload borrows the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// The kind byte, chosen by the layer above.
    pub kind: u8,
    /// The record's key.
    pub key: u128,
    /// The payload.
    pub payload: &'a [u8],
}

impl RecordRef<'_> {
    /// Bytes the record takes on disk, header included.
    pub fn encoded_len(&self) -> usize {
        RECORD_HEADER_BYTES + self.payload.len()
    }
}

/// Why bytes did not decode as a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The header is all zeros: the preallocated, never written end of a
    /// segment.
    End,
    /// Fewer bytes than the header or the declared payload needs.
    Short,
    /// Nonzero attributes, kind 0 or a length beyond the limit.
    BadHeader,
    /// The stored CRC does not match.
    Checksum {
        /// Stored CRC.
        expected: u32,
        /// Computed CRC.
        got: u32,
    },
}

/// Bytes a record with this payload length takes.
pub fn encoded_len(payload_len: usize) -> usize {
    RECORD_HEADER_BYTES + payload_len
}

/// Appends the encoding of one record to `buf`.
///
/// The caller checks `payload.len() <= u32::MAX - RECORD_HEADER_BYTES` and
/// that `kind != 0`.
pub fn encode_into(buf: &mut Vec<u8>, kind: u8, key: u128, payload: &[u8]) {
    let start = buf.len();
    let mut header = [0u8; RECORD_HEADER_BYTES];
    LittleEndian::write_u32(&mut header[LEN_AT..], payload.len() as u32);
    header[KIND_AT] = kind;
    header[ATTR_AT] = 0;
    LittleEndian::write_u128(&mut header[KEY_AT..], key);
    buf.extend_from_slice(&header);
    buf.extend_from_slice(payload);
    let crc = crc32fast::hash(&buf[start + LEN_AT..]);
    LittleEndian::write_u32(&mut buf[start + CRC_AT..], crc);
}

/// Decodes the record at the start of `buf`, checking its CRC.
pub fn decode_from(buf: &[u8], max_payload: usize) -> Result<RecordRef<'_>, DecodeError> {
    // Zeros where a header would start are unwritten space, even when fewer
    // than a header's worth remain before the end of the file.
    let head = &buf[..buf.len().min(RECORD_HEADER_BYTES)];
    if !head.is_empty() && head.iter().all(|&b| b == 0) {
        return Err(DecodeError::End);
    }
    let header = buf.get(..RECORD_HEADER_BYTES).ok_or(DecodeError::Short)?;
    let len = LittleEndian::read_u32(&header[LEN_AT..]) as usize;
    let kind = header[KIND_AT];
    if kind == 0 || header[ATTR_AT] != 0 || len > max_payload {
        return Err(DecodeError::BadHeader);
    }
    let end = RECORD_HEADER_BYTES
        .checked_add(len)
        .ok_or(DecodeError::BadHeader)?;
    let whole = buf.get(..end).ok_or(DecodeError::Short)?;
    let expected = LittleEndian::read_u32(&header[CRC_AT..]);
    let got = crc32fast::hash(&whole[LEN_AT..]);
    if expected != got {
        return Err(DecodeError::Checksum { expected, got });
    }
    Ok(RecordRef {
        kind,
        key: LittleEndian::read_u128(&header[KEY_AT..]),
        payload: &whole[RECORD_HEADER_BYTES..],
    })
}

/// Reads the key and total length of the record at the start of `buf`
/// without checking its CRC. Used only to walk records that were already
/// validated (the written part of a segment this process appended or
/// recovered).
pub fn peek_len_key(buf: &[u8]) -> Option<(usize, u128)> {
    let header = buf.get(..RECORD_HEADER_BYTES)?;
    let len = LittleEndian::read_u32(&header[LEN_AT..]) as usize;
    Some((
        RECORD_HEADER_BYTES + len,
        LittleEndian::read_u128(&header[KEY_AT..]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        encode_into(&mut buf, 3, 42, b"hello");
        encode_into(&mut buf, 1, u128::MAX, b"");
        let a = decode_from(&buf, 1 << 20).unwrap();
        assert_eq!((a.kind, a.key, a.payload), (3, 42, &b"hello"[..]));
        let b = decode_from(&buf[a.encoded_len()..], 1 << 20).unwrap();
        assert_eq!((b.kind, b.key, b.payload), (1, u128::MAX, &b""[..]));
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let mut buf = Vec::new();
        encode_into(&mut buf, 7, 0x0102_0304, b"payload bytes");
        for i in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(
                decode_from(&bad, 1 << 20).is_err(),
                "bit {i} went unnoticed"
            );
        }
    }

    #[test]
    fn zeros_short_and_limits() {
        assert_eq!(decode_from(&[0u8; 40], 100), Err(DecodeError::End));
        // A zero tail shorter than a header is unwritten space too.
        assert_eq!(decode_from(&[0u8; 12], 100), Err(DecodeError::End));
        assert_eq!(decode_from(&[], 100), Err(DecodeError::Short));
        assert_eq!(decode_from(&[1u8; 10], 100), Err(DecodeError::Short));
        let mut buf = Vec::new();
        encode_into(&mut buf, 1, 1, &[9u8; 50]);
        assert_eq!(decode_from(&buf, 10), Err(DecodeError::BadHeader));
        assert_eq!(decode_from(&buf[..40], 100), Err(DecodeError::Short));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let _ = decode_from(&bytes, 1 << 16);
        }

        #[test]
        fn encode_decode(kind in 1u8.., key: u128, payload: Vec<u8>) {
            let mut buf = Vec::new();
            encode_into(&mut buf, kind, key, &payload);
            let r = decode_from(&buf, 1 << 20).unwrap();
            proptest::prop_assert_eq!((r.kind, r.key, r.payload), (kind, key, &payload[..]));
        }
    }
}
