//! The incremental, zero-copy parser of client requests, as Redis reads
//! them: multibulk (`*<n>\r\n$<len>\r\n<bytes>\r\n…`) or an inline line as
//! telnet sends it (`SET k "a b"\r\n`).
//!
//! Bytes arrive in any pieces; the parser keeps where it stands between
//! calls and never re-reads a complete argument. A bulk argument is split off
//! the read buffer without copying (`BytesMut::split_to`). Limits, with
//! Redis's defaults and error texts: a bulk is at most `max_bulk` bytes
//! (`proto-max-bulk-len`, 512 MB), a count line or inline request at most
//! 64 KiB, a multibulk at most `i32::MAX` arguments (memory for them is
//! reserved as they arrive, at most 1024 ahead). A protocol error means the
//! connection is closed after the error is sent, as Redis does.
//!
//! Like Redis, the two bytes after a bulk's payload are skipped without
//! checking that they are CRLF.

use bytes::{Buf, Bytes, BytesMut};

/// Longest count line or inline request (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// Default largest bulk argument (Redis's `proto-max-bulk-len`).
pub const DEFAULT_MAX_BULK_BYTES: usize = 512 * 1024 * 1024;

/// A request that breaks the protocol. The message is Redis's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An inline request without a newline in 64 KiB.
    #[error("Protocol error: too big inline request")]
    TooBigInline,
    /// An inline request with an unclosed quote.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A `*` line without a newline in 64 KiB.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMbulkCount,
    /// A `*` count that is not a number or is too large.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A `$` line without a newline in 64 KiB.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// Something other than `$` where a bulk argument should start.
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// A `$` length that is not a number, is negative or over the limit.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
}

/// Where a multibulk request stands.
#[derive(Debug, Default)]
struct Multibulk {
    /// Arguments still to come.
    remaining: usize,
    args: Vec<Bytes>,
    /// Length of the bulk whose header was read and whose payload has not
    /// fully arrived.
    bulk: Option<usize>,
}

/// Parses requests out of a connection's read buffer.
#[derive(Debug)]
pub struct RequestParser {
    max_bulk: usize,
    partial: Option<Multibulk>,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new(DEFAULT_MAX_BULK_BYTES)
    }
}

/// Position of the first `\r` (for count lines) in `buf`.
fn find(buf: &[u8], b: u8) -> Option<usize> {
    buf.iter().position(|&x| x == b)
}

/// A decimal i64 as Redis's `string2ll` reads it: optional `-`, digits, no
/// leading zeros (except `0` itself), no spaces, no overflow.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits.len() > 1 && digits[0] == b'0' {
        return None;
    }
    if neg && digits == b"0" {
        return None;
    }
    // Accumulated on the sign's side, so that i64::MIN fits.
    let mut v: i64 = 0;
    for d in digits {
        let d = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

impl RequestParser {
    /// A parser that accepts bulk arguments of at most `max_bulk` bytes.
    pub fn new(max_bulk: usize) -> RequestParser {
        RequestParser {
            max_bulk,
            partial: None,
        }
    }

    /// Changes the bulk limit (`CONFIG SET proto-max-bulk-len`).
    pub fn set_max_bulk(&mut self, max_bulk: usize) {
        self.max_bulk = max_bulk;
    }

    /// How many more bytes the request being read needs at least, so that
    /// the reader can reserve room for a large argument in one piece.
    pub fn wants(&self) -> usize {
        match &self.partial {
            Some(Multibulk { bulk: Some(n), .. }) => n + 2,
            _ => 0,
        }
    }

    /// The next complete request in `buf`, consuming its bytes:
    /// `Ok(Some(args))` (empty for a blank inline line or `*0`, which Redis
    /// ignores), `Ok(None)` when more bytes are needed, or a protocol error.
    pub fn next(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if self.partial.is_none() {
            match buf.first() {
                None => return Ok(None),
                Some(b'*') => {}
                Some(_) => return parse_inline(buf),
            }
            let Some(cr) = find(buf, b'\r') else {
                if buf.len() > INLINE_MAX_BYTES {
                    return Err(ProtocolError::TooBigMbulkCount);
                }
                return Ok(None);
            };
            if cr + 1 >= buf.len() {
                return Ok(None);
            }
            let n = parse_i64(&buf[1..cr])
                .filter(|&n| n <= i64::from(i32::MAX))
                .ok_or(ProtocolError::InvalidMultibulkLength)?;
            buf.advance(cr + 2);
            if n <= 0 {
                return Ok(Some(Vec::new()));
            }
            let n = n as usize;
            self.partial = Some(Multibulk {
                remaining: n,
                args: Vec::with_capacity(n.min(1024)),
                bulk: None,
            });
        }
        let max_bulk = self.max_bulk;
        let Some(mb) = self.partial.as_mut() else {
            return Ok(None);
        };
        while mb.remaining > 0 {
            let len = match mb.bulk {
                Some(len) => len,
                None => {
                    let Some(cr) = find(buf, b'\r') else {
                        if buf.len() > INLINE_MAX_BYTES {
                            return Err(ProtocolError::TooBigBulkCount);
                        }
                        return Ok(None);
                    };
                    if cr + 1 >= buf.len() {
                        return Ok(None);
                    }
                    if buf[0] != b'$' {
                        return Err(ProtocolError::ExpectedDollar(buf[0]));
                    }
                    let len = parse_i64(&buf[1..cr])
                        .filter(|&n| n >= 0 && n as u64 <= max_bulk as u64)
                        .ok_or(ProtocolError::InvalidBulkLength)?
                        as usize;
                    buf.advance(cr + 2);
                    mb.bulk = Some(len);
                    len
                }
            };
            if buf.len() < len + 2 {
                return Ok(None);
            }
            let arg = buf.split_to(len).freeze();
            buf.advance(2);
            mb.args.push(arg);
            mb.bulk = None;
            mb.remaining -= 1;
        }
        Ok(self.partial.take().map(|mb| mb.args))
    }
}

/// An inline request: one line, split as Redis's `sdssplitargs` splits it.
fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = find(buf, b'\n') else {
        if buf.len() > INLINE_MAX_BYTES {
            return Err(ProtocolError::TooBigInline);
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut line = &line[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    split_args(line)
        .map(Some)
        .ok_or(ProtocolError::UnbalancedQuotes)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Splits a line into arguments with Redis's quoting rules: `"…"` with the
/// escapes `\n \r \t \b \a \xHH \\ \"`, `'…'` with only `\'`; a closing quote
/// must be followed by a space or the end. `None` for unbalanced quotes.
/// A NUL byte ends the line, as it ends the C string Redis splits.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let line = match find(line, 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut dq, mut sq) = (false, false);
        loop {
            let c = line.get(i).copied();
            if dq {
                match c {
                    None => return None,
                    Some(b'\\')
                        if line.get(i + 1) == Some(&b'x')
                            && line.get(i + 2).and_then(|&h| hex_value(h)).is_some()
                            && line.get(i + 3).and_then(|&h| hex_value(h)).is_some() =>
                    {
                        let hi = hex_value(line[i + 2]).unwrap_or(0);
                        let lo = hex_value(line[i + 3]).unwrap_or(0);
                        cur.push(hi * 16 + lo);
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        i += 1;
                        cur.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if line.get(i + 1).is_some_and(|&n| !is_space(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => cur.push(other),
                }
            } else if sq {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        cur.push(b'\'');
                    }
                    Some(b'\'') => {
                        if line.get(i + 1).is_some_and(|&n| !is_space(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => cur.push(other),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => dq = true,
                    Some(b'\'') => sq = true,
                    Some(other) => cur.push(other),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(cur));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(parser: &mut RequestParser, buf: &mut BytesMut) -> Vec<Vec<Bytes>> {
        let mut out = Vec::new();
        while let Some(args) = parser.next(buf).unwrap() {
            out.push(args);
        }
        out
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn multibulk_and_pipelining() {
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n*1\r\n$4\r\nPING\r\n"[..]);
        assert_eq!(
            all(&mut p, &mut buf),
            vec![vec![b("ECHO"), b("hi")], vec![b("PING")]]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn inline_commands() {
        let mut p = RequestParser::default();
        let mut buf = BytesMut::from(&b"SET k \"a b\\x41\\n\" 'it\\'s'\r\n\r\nPING\n"[..]);
        let got = all(&mut p, &mut buf);
        assert_eq!(got[0], vec![b("SET"), b("k"), b("a bA\n"), b("it's")]);
        assert_eq!(got[1], Vec::<Bytes>::new());
        assert_eq!(got[2], vec![b("PING")]);
        let mut buf = BytesMut::from(&b"SET k \"abc\r\n"[..]);
        assert_eq!(p.next(&mut buf), Err(ProtocolError::UnbalancedQuotes));
        let mut buf = BytesMut::from(&b"SET k \"abc\"x\r\n"[..]);
        assert_eq!(p.next(&mut buf), Err(ProtocolError::UnbalancedQuotes));
    }

    #[test]
    fn errors_and_limits() {
        let e = |input: &[u8], max: usize| {
            let mut p = RequestParser::new(max);
            let mut buf = BytesMut::from(input);
            loop {
                match p.next(&mut buf) {
                    Ok(Some(_)) => continue,
                    other => return other,
                }
            }
        };
        assert_eq!(
            e(b"*x\r\n", 100),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            e(b"*2147483648\r\n", 100),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            e(b"*1\r\n:1\r\n", 100),
            Err(ProtocolError::ExpectedDollar(b':'))
        );
        assert_eq!(
            e(b"*1\r\n$-1\r\n", 100),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            e(b"*1\r\n$101\r\n", 100),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            e(b"*1\r\n$01\r\n", 100),
            Err(ProtocolError::InvalidBulkLength)
        );
        let long = vec![b'a'; INLINE_MAX_BYTES + 1];
        assert_eq!(e(&long, 100), Err(ProtocolError::TooBigInline));
        let mut star = vec![b'*'];
        star.extend(vec![b'1'; INLINE_MAX_BYTES + 1]);
        assert_eq!(e(&star, 100), Err(ProtocolError::TooBigMbulkCount));
        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend(vec![b'1'; INLINE_MAX_BYTES + 1]);
        assert_eq!(e(&bulk, 100), Err(ProtocolError::TooBigBulkCount));
        assert_eq!(
            ProtocolError::ExpectedDollar(b':').to_string(),
            "Protocol error: expected '$', got ':'"
        );
        // A zero or negative count is an empty request, ignored.
        assert_eq!(e(b"*0\r\n*-1\r\n", 100), Ok(None));
    }

    #[test]
    fn a_large_bulk_is_not_copied() {
        let mut p = RequestParser::default();
        let payload = vec![7u8; 1 << 20];
        let mut buf = BytesMut::from(&b"*1\r\n$1048576\r\n"[..]);
        assert_eq!(p.next(&mut buf), Ok(None));
        assert_eq!(p.wants(), (1 << 20) + 2);
        buf.reserve(p.wants());
        buf.extend_from_slice(&payload);
        buf.extend_from_slice(b"\r\n");
        let start = buf.as_ptr() as usize;
        let args = p.next(&mut buf).unwrap().unwrap();
        assert_eq!(args[0].len(), 1 << 20);
        assert_eq!(
            args[0].as_ptr() as usize,
            start,
            "the argument is the read buffer's bytes"
        );
    }

    /// Inline `ECHO …` lines and redis-server 7.0.15's raw replies to them,
    /// hex, one pair per line (recorded by `tests/fixtures/inline_redis.py`).
    const INLINE_CASES: &str = include_str!("../../tests/fixtures/inline_redis.tsv");

    #[test]
    fn inline_splitting_matches_redis() {
        let hex = crate::testutil::hex;
        let mut n = 0;
        for l in INLINE_CASES.lines() {
            let f: Vec<&str> = l.split('\t').collect();
            let (line, reply) = (hex(f[0]), hex(f[1]));
            let want: Vec<u8> = match split_args(&line) {
                None => b"-ERR Protocol error: unbalanced quotes in request\r\n".to_vec(),
                Some(a) if a.len() == 2 => {
                    let mut v = format!("${}\r\n", a[1].len()).into_bytes();
                    v.extend(&a[1][..]);
                    v.extend(b"\r\n");
                    v
                }
                Some(_) => b"-ERR wrong number of arguments for 'echo' command\r\n".to_vec(),
            };
            assert_eq!(want, reply, "{}", line.escape_ascii());
            n += 1;
        }
        assert!(n >= 1000);
    }

    fn encode(cmds: &[Vec<Vec<u8>>]) -> Vec<u8> {
        let mut out = Vec::new();
        for args in cmds {
            out.extend(format!("*{}\r\n", args.len()).bytes());
            for a in args {
                out.extend(format!("${}\r\n", a.len()).bytes());
                out.extend(a);
                out.extend(b"\r\n");
            }
        }
        out
    }

    proptest! {
        #[test]
        fn frames_split_anywhere(
            cmds in prop::collection::vec(prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..5), 1..5),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let wire = encode(&cmds);
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
            points.sort_unstable();
            let mut p = RequestParser::default();
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            let mut last = 0;
            for at in points.into_iter().chain([wire.len()]) {
                buf.extend_from_slice(&wire[last..at]);
                last = at;
                while let Some(args) = p.next(&mut buf).unwrap() {
                    got.push(args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
                }
            }
            prop_assert_eq!(got, cmds);
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn arbitrary_bytes_never_panic(input: Vec<u8>) {
            let mut p = RequestParser::new(1 << 16);
            let mut buf = BytesMut::from(&input[..]);
            while let Ok(Some(_)) = p.next(&mut buf) {}
        }
    }
}
