//! Reply frames and their encoding, in RESP2 or RESP3.
//!
//! RESP3 types are downgraded the way Redis does for a RESP2 client: a map
//! becomes a flat array of keys and values, a set or push an array, a double
//! a bulk string, a boolean an integer 0 or 1, and null a null bulk string.

use bytes::{BufMut, Bytes, BytesMut};

/// The protocol a connection speaks (chosen with HELLO).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2, the default.
    #[default]
    Resp2,
    /// RESP3.
    Resp3,
}

/// A reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK`
    Simple(Bytes),
    /// `-ERR ...`: the text without the leading `-`.
    Error(Bytes),
    /// `:42`
    Integer(i64),
    /// `$3\r\nfoo`
    Bulk(Bytes),
    /// The null reply: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// The null array: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    /// `*n` followed by the elements.
    Array(Vec<Frame>),
    /// RESP3 map `%n`; a flat array in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 set `~n`; an array in RESP2.
    Set(Vec<Frame>),
    /// RESP3 double `,1.5`; a bulk string in RESP2.
    Double(f64),
    /// RESP3 boolean `#t`; the integer 1 or 0 in RESP2.
    Boolean(bool),
    /// RESP3 push `>n` (pub/sub messages); an array in RESP2.
    Push(Vec<Frame>),
    /// Bytes already encoded, written as they are: for replies whose
    /// encoding is the same in RESP2 and RESP3 (arrays of bulk strings),
    /// built without a tree of frames.
    Raw(Bytes),
}

impl Frame {
    /// `+OK`.
    pub fn ok() -> Frame {
        Frame::Simple(Bytes::from_static(b"OK"))
    }

    /// An error reply with this text (which should start with a code such as
    /// `ERR` or `WRONGTYPE`).
    pub fn error(text: impl Into<String>) -> Frame {
        Frame::Error(Bytes::from(text.into()))
    }

    /// A bulk string of these bytes.
    pub fn bulk(b: impl Into<Bytes>) -> Frame {
        Frame::Bulk(b.into())
    }

    /// Appends the encoding of this frame in `proto` to `out`.
    pub fn encode_into(&self, out: &mut BytesMut, proto: Protocol) {
        let resp3 = proto == Protocol::Resp3;
        match self {
            Frame::Simple(s) => line(out, b'+', s),
            Frame::Error(s) => line(out, b'-', s),
            Frame::Integer(n) => header(out, b':', *n),
            Frame::Bulk(b) => bulk(out, b),
            Frame::Null if resp3 => out.put_slice(b"_\r\n"),
            Frame::Null => out.put_slice(b"$-1\r\n"),
            Frame::NullArray if resp3 => out.put_slice(b"_\r\n"),
            Frame::NullArray => out.put_slice(b"*-1\r\n"),
            Frame::Array(items) => aggregate(out, b'*', items, proto),
            Frame::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, proto),
            Frame::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, proto),
            Frame::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len() as i64);
                } else {
                    header(out, b'*', 2 * pairs.len() as i64);
                }
                for (k, v) in pairs {
                    k.encode_into(out, proto);
                    v.encode_into(out, proto);
                }
            }
            Frame::Double(d) => {
                let text = format_double(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Frame::Boolean(b) if resp3 => out.put_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::Boolean(b) => header(out, b':', i64::from(*b)),
            Frame::Raw(b) => out.extend_from_slice(b),
        }
    }

    /// The encoding of this frame in `proto`.
    pub fn to_bytes(&self, proto: Protocol) -> Bytes {
        let mut out = BytesMut::new();
        self.encode_into(&mut out, proto);
        out.freeze()
    }
}

/// A double as Redis prints it: `inf`, `-inf`, `nan`, or the shortest text
/// that reads back as the same value.
fn format_double(d: f64) -> String {
    if d.is_nan() {
        "nan".into()
    } else if d.is_infinite() {
        if d > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{d}")
    }
}

fn line(out: &mut BytesMut, tag: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(tag);
    // A simple string or error cannot hold CR or LF: replace them, as Redis
    // does for error texts.
    out.extend(
        text.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.put_slice(b"\r\n");
}

/// `n` in decimal at the end of `buf`; returns where the digits start.
pub fn decimal_in(buf: &mut [u8; 20], mut n: u64) -> usize {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return i;
        }
    }
}

/// Writes `n` in decimal, without allocating.
pub fn put_decimal(out: &mut BytesMut, n: u64) {
    let mut digits = [0u8; 20];
    let at = decimal_in(&mut digits, n);
    out.extend_from_slice(&digits[at..]);
}

/// A header line in a stack buffer: `tag`, the number, CRLF.
pub fn header_bytes(tag: u8, n: i64) -> ([u8; 24], usize) {
    let mut line = [0u8; 24];
    line[0] = tag;
    let mut len = 1;
    if n < 0 {
        line[len] = b'-';
        len += 1;
    }
    len += decimal_at(&mut line[len..], n.unsigned_abs());
    line[len..len + 2].copy_from_slice(b"\r\n");
    (line, len + 2)
}

/// Writes `n` in decimal at the start of `buf` (which has room for 20
/// digits); returns how many digits. The lengths of bulk strings and
/// arrays are mostly under 1000: those take no loop.
pub fn decimal_at(buf: &mut [u8], n: u64) -> usize {
    match n {
        0..=9 => {
            buf[0] = b'0' + n as u8;
            1
        }
        10..=99 => {
            buf[0] = b'0' + (n / 10) as u8;
            buf[1] = b'0' + (n % 10) as u8;
            2
        }
        100..=999 => {
            buf[0] = b'0' + (n / 100) as u8;
            buf[1] = b'0' + (n / 10 % 10) as u8;
            buf[2] = b'0' + (n % 10) as u8;
            3
        }
        _ => {
            let mut digits = [0u8; 20];
            let at = decimal_in(&mut digits, n);
            let d = &digits[at..];
            buf[..d.len()].copy_from_slice(d);
            d.len()
        }
    }
}

/// Writes a header line: `tag`, the number, CRLF (`*3`, `$5`, `:42`).
pub fn header(out: &mut BytesMut, tag: u8, n: i64) {
    let (line, len) = header_bytes(tag, n);
    out.extend_from_slice(&line[..len]);
}

/// Writes a bulk string.
pub fn bulk(out: &mut BytesMut, b: &[u8]) {
    out.reserve(b.len() + 26);
    header(out, b'$', b.len() as i64);
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

fn aggregate(out: &mut BytesMut, tag: u8, items: &[Frame], proto: Protocol) {
    header(out, tag, items.len() as i64);
    for f in items {
        f.encode_into(out, proto);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: &Frame, p: Protocol) -> String {
        String::from_utf8(f.to_bytes(p).to_vec()).unwrap()
    }

    #[test]
    fn resp2_and_resp3_encodings() {
        use Protocol::*;
        assert_eq!(enc(&Frame::ok(), Resp2), "+OK\r\n");
        assert_eq!(
            enc(&Frame::error("ERR bad\r\nthing"), Resp2),
            "-ERR bad  thing\r\n"
        );
        assert_eq!(enc(&Frame::Integer(-3), Resp2), ":-3\r\n");
        assert_eq!(enc(&Frame::bulk("foo"), Resp2), "$3\r\nfoo\r\n");
        assert_eq!(enc(&Frame::bulk(""), Resp2), "$0\r\n\r\n");
        assert_eq!(enc(&Frame::Null, Resp2), "$-1\r\n");
        assert_eq!(enc(&Frame::Null, Resp3), "_\r\n");
        assert_eq!(enc(&Frame::NullArray, Resp2), "*-1\r\n");
        let map = Frame::Map(vec![(Frame::bulk("a"), Frame::Integer(1))]);
        assert_eq!(enc(&map, Resp2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&map, Resp3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Resp3), ",1.5\r\n");
        assert_eq!(enc(&Frame::Double(1.5), Resp2), "$3\r\n1.5\r\n");
        assert_eq!(enc(&Frame::Double(f64::INFINITY), Resp3), ",inf\r\n");
        assert_eq!(enc(&Frame::Boolean(true), Resp3), "#t\r\n");
        assert_eq!(enc(&Frame::Boolean(false), Resp2), ":0\r\n");
        let push = Frame::Push(vec![Frame::bulk("message")]);
        assert_eq!(enc(&push, Resp3), ">1\r\n$7\r\nmessage\r\n");
        assert_eq!(enc(&push, Resp2), "*1\r\n$7\r\nmessage\r\n");
        let set = Frame::Set(vec![Frame::Integer(1)]);
        assert_eq!(enc(&set, Resp3), "~1\r\n:1\r\n");
        assert_eq!(enc(&Frame::Array(vec![]), Resp2), "*0\r\n");
        assert_eq!(
            enc(&Frame::Integer(i64::MIN), Resp2),
            ":-9223372036854775808\r\n"
        );
        assert_eq!(enc(&Frame::Integer(0), Resp3), ":0\r\n");
        let raw = Frame::Raw(Bytes::from_static(b"*0\r\n"));
        assert_eq!(enc(&raw, Resp3), "*0\r\n");
    }
}
