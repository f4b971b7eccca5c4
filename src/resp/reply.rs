//! A strict parser of replies (RESP2 and RESP3 frames), the inverse of
//! [`Frame::encode_into`]. The server never reads replies; this exists so
//! that the fuzz targets and tests can check that whatever the server writes
//! is valid RESP and reads back as the frame it encoded.
//!
//! Strict means: every line ends in CRLF, a bulk's payload is followed by
//! CRLF, lengths and integers are plain decimals, a simple string or error
//! holds no CR or LF, and nesting is at most [`MAX_DEPTH`] deep.

use bytes::Bytes;

use super::frame::Frame;
use super::parse::parse_i64;

/// Deepest nesting of aggregates accepted.
pub const MAX_DEPTH: usize = 64;

/// Why bytes are not a valid reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A type byte RESP does not have (or one Brook never writes).
    #[error("unknown reply type byte {0:#04x}")]
    UnknownType(u8),
    /// A line that does not end in CRLF, or holds a bare CR or LF.
    #[error("malformed line at byte {0}")]
    BadLine(usize),
    /// A length or integer that is not a decimal in range.
    #[error("bad number at byte {0}")]
    BadNumber(usize),
    /// A bulk payload not followed by CRLF.
    #[error("bulk payload at byte {0} is not followed by CRLF")]
    BadBulkEnd(usize),
    /// A double that does not read as one, or a boolean other than t or f.
    #[error("bad scalar at byte {0}")]
    BadScalar(usize),
    /// Aggregates nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// Parses one reply at the start of `buf`. `Ok(None)` when `buf` holds only
/// part of one; otherwise the frame and the number of bytes it took.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Frame, usize)>, ReplyError> {
    let mut pos = 0;
    match frame(buf, &mut pos, 0)? {
        Some(f) => Ok(Some((f, pos))),
        None => Ok(None),
    }
}

/// The line starting at `*pos` (without its CRLF); advances past the CRLF.
fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, ReplyError> {
    let start = *pos;
    let rest = &buf[start..];
    let Some(cr) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return Ok(None);
    };
    if rest[cr] == b'\n' {
        return Err(ReplyError::BadLine(start + cr));
    }
    match rest.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => {
            *pos = start + cr + 2;
            Ok(Some(&rest[..cr]))
        }
        Some(_) => Err(ReplyError::BadLine(start + cr)),
    }
}

fn number(text: &[u8], at: usize) -> Result<i64, ReplyError> {
    parse_i64(text).ok_or(ReplyError::BadNumber(at))
}

fn frame(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Frame>, ReplyError> {
    if depth > MAX_DEPTH {
        return Err(ReplyError::TooDeep);
    }
    let Some(&tag) = buf.get(*pos) else {
        return Ok(None);
    };
    let at = *pos;
    *pos += 1;
    let Some(text) = line(buf, pos)? else {
        return Ok(None);
    };
    let f = match tag {
        b'+' => Frame::Simple(Bytes::copy_from_slice(text)),
        b'-' => Frame::Error(Bytes::copy_from_slice(text)),
        b':' => Frame::Integer(number(text, at)?),
        b'_' if text.is_empty() => Frame::Null,
        b'#' => match text {
            b"t" => Frame::Boolean(true),
            b"f" => Frame::Boolean(false),
            _ => return Err(ReplyError::BadScalar(at)),
        },
        b',' => {
            let d = std::str::from_utf8(text)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .ok_or(ReplyError::BadScalar(at))?;
            Frame::Double(d)
        }
        b'$' => {
            let n = number(text, at)?;
            if n == -1 {
                return Ok(Some(Frame::Null));
            }
            let n = usize::try_from(n).map_err(|_| ReplyError::BadNumber(at))?;
            let start = *pos;
            let Some(end) = start.checked_add(n) else {
                return Err(ReplyError::BadNumber(at));
            };
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ReplyError::BadBulkEnd(start));
            }
            *pos = end + 2;
            Frame::Bulk(Bytes::copy_from_slice(&buf[start..end]))
        }
        b'*' | b'~' | b'>' | b'%' => {
            let n = number(text, at)?;
            if n == -1 && tag == b'*' {
                return Ok(Some(Frame::NullArray));
            }
            let n = usize::try_from(n).map_err(|_| ReplyError::BadNumber(at))?;
            let items = if tag == b'%' { n.saturating_mul(2) } else { n };
            // Each element takes at least 3 bytes: no allocation beyond what
            // the input could hold.
            let mut v = Vec::with_capacity(items.min((buf.len() - *pos) / 3));
            for _ in 0..items {
                match frame(buf, pos, depth + 1)? {
                    Some(f) => v.push(f),
                    None => return Ok(None),
                }
            }
            match tag {
                b'*' => Frame::Array(v),
                b'~' => Frame::Set(v),
                b'>' => Frame::Push(v),
                _ => {
                    let mut pairs = Vec::with_capacity(v.len() / 2);
                    let mut it = v.into_iter();
                    while let (Some(k), Some(val)) = (it.next(), it.next()) {
                        pairs.push((k, val));
                    }
                    Frame::Map(pairs)
                }
            }
        }
        _ => return Err(ReplyError::UnknownType(tag)),
    };
    Ok(Some(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::frame::Protocol;

    fn round(f: &Frame, proto: Protocol) -> Frame {
        let b = f.to_bytes(proto);
        let (g, used) = parse_reply(&b).unwrap().unwrap();
        assert_eq!(used, b.len());
        // Every proper prefix is incomplete, never an error.
        for cut in 0..b.len() {
            assert_eq!(parse_reply(&b[..cut]), Ok(None), "cut at {cut}");
        }
        g
    }

    #[test]
    fn reads_back_what_is_encoded() {
        let f = Frame::Array(vec![
            Frame::Simple("OK".into()),
            Frame::Error("ERR x".into()),
            Frame::Integer(-42),
            Frame::bulk("a\r\nb"),
            Frame::Null,
            Frame::Map(vec![(Frame::bulk("k"), Frame::Double(1.5))]),
            Frame::Set(vec![Frame::Boolean(true)]),
            Frame::Push(vec![Frame::Array(vec![])]),
        ]);
        assert_eq!(round(&f, Protocol::Resp3), f);
        let r2 = round(&f, Protocol::Resp2);
        let Frame::Array(items) = r2 else {
            panic!("not an array")
        };
        assert_eq!(
            items[5],
            Frame::Array(vec![Frame::bulk("k"), Frame::bulk("1.5")])
        );
        assert_eq!(round(&Frame::NullArray, Protocol::Resp2), Frame::NullArray);
    }

    #[test]
    fn rejects_what_is_not_resp() {
        for bad in [
            &b"?x\r\n"[..],
            b"+a\nb\r\n",
            b":12a\r\n",
            b"$3\r\nabcde",
            b"#x\r\n",
            b",one\r\n",
            b"*-2\r\n",
        ] {
            assert!(parse_reply(bad).is_err(), "{bad:?}");
        }
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2);
        assert_eq!(parse_reply(deep.as_bytes()), Err(ReplyError::TooDeep));
    }
}
