//! Stream IDs: `ms-seq`, two u64, ordered by `ms` then `seq`, and the ways
//! commands spell them.
//!
//! An ID maps to a storage key as `ms << 64 | seq`, so key order is ID order.
//!
//! Parsing follows Redis 7:
//! - an ID is `ms-seq` or `ms` (decimal u64s; `seq` defaults per command);
//! - `-` and `+` stand for the smallest and largest ID where ranges allow
//!   them;
//! - `(` before an ID makes a range bound exclusive (then `-` and `+` are
//!   not allowed);
//! - XADD takes `*` (generate), `ms-*` (generate the sequence) or an
//!   explicit ID.

use std::fmt;

use crate::error::EngineError;

/// A stream entry ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`, below every valid entry ID.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// `18446744073709551615-18446744073709551615`.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An ID from its two parts.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The storage key of this ID.
    pub const fn key(self) -> u128 {
        (self.ms as u128) << 64 | self.seq as u128
    }

    /// The ID a storage key stands for.
    pub const fn from_key(key: u128) -> StreamId {
        StreamId {
            ms: (key >> 64) as u64,
            seq: key as u64,
        }
    }

    /// The next ID, or `None` after [`StreamId::MAX`].
    pub fn next(self) -> Option<StreamId> {
        self.key().checked_add(1).map(StreamId::from_key)
    }

    /// The previous ID, or `None` before [`StreamId::MIN`].
    pub fn prev(self) -> Option<StreamId> {
        self.key().checked_sub(1).map(StreamId::from_key)
    }

    /// Parses `ms-seq`, or `ms` alone, in which case `seq` is
    /// `missing_seq`. Returns `None` for anything else.
    pub fn parse(arg: &[u8], missing_seq: u64) -> Option<StreamId> {
        // Redis parses IDs from a 127-byte buffer; longer is invalid.
        if arg.len() > 127 {
            return None;
        }
        match arg.iter().position(|&b| b == b'-') {
            None => Some(StreamId::new(parse_u64(arg)?, missing_seq)),
            Some(dash) => Some(StreamId::new(
                parse_u64(&arg[..dash])?,
                parse_u64(&arg[dash + 1..])?,
            )),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A decimal u64 as Redis's `string2ull` reads it: digits only, no sign,
/// no spaces, no overflow.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The ID argument of XADD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddId {
    /// `*`: the current time in ms, or the top ID plus one.
    Auto,
    /// `ms-*`: this `ms`, with the next free sequence.
    AutoSeq(u64),
    /// An explicit ID (`ms` alone means `ms-0`).
    Explicit(StreamId),
}

impl AddId {
    /// Parses XADD's ID argument.
    pub fn parse(arg: &[u8]) -> Result<AddId, EngineError> {
        if arg == b"*" {
            return Ok(AddId::Auto);
        }
        if let Some(ms) = arg.strip_suffix(b"-*") {
            return parse_u64(ms)
                .map(AddId::AutoSeq)
                .ok_or(EngineError::InvalidId);
        }
        StreamId::parse(arg, 0)
            .map(AddId::Explicit)
            .ok_or(EngineError::InvalidId)
    }

    /// The ID an XADD with this argument gets, given the stream's top ID
    /// (`0-0` for a new or empty stream) and the clock.
    ///
    /// The checks come in Redis's order: `0-0` first, then a stream whose top
    /// is the largest ID, then the order against the top.
    pub fn resolve(self, top: StreamId, now_ms: u64) -> Result<StreamId, EngineError> {
        if self == AddId::Explicit(StreamId::MIN) {
            return Err(EngineError::IdZero);
        }
        if top == StreamId::MAX {
            return Err(EngineError::IdExhausted);
        }
        match self {
            AddId::Auto => {
                if now_ms > top.ms {
                    Ok(StreamId::new(now_ms, 0))
                } else {
                    // The clock went backwards or stands still: stay
                    // monotonic.
                    top.next().ok_or(EngineError::IdExhausted)
                }
            }
            AddId::AutoSeq(ms) => {
                if ms > top.ms {
                    Ok(StreamId::new(ms, 0))
                } else if ms == top.ms && top.seq < u64::MAX {
                    Ok(StreamId::new(ms, top.seq + 1))
                } else {
                    Err(EngineError::IdTooSmall)
                }
            }
            AddId::Explicit(id) => {
                if id <= top {
                    Err(EngineError::IdTooSmall)
                } else {
                    Ok(id)
                }
            }
        }
    }
}

/// Which end of a range a bound is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeEnd {
    /// The start: an incomplete `ms` means `ms-0`; `(` moves up by one.
    Start,
    /// The end: an incomplete `ms` means `ms-18446744073709551615`; `(`
    /// moves down by one.
    End,
}

/// Parses a bound of XRANGE / XREVRANGE (and the other range commands) into
/// an inclusive ID.
pub fn parse_range_bound(arg: &[u8], end: RangeEnd) -> Result<StreamId, EngineError> {
    let missing_seq = match end {
        RangeEnd::Start => 0,
        RangeEnd::End => u64::MAX,
    };
    if arg.len() > 1 && arg[0] == b'(' {
        let id = StreamId::parse(&arg[1..], missing_seq).ok_or(EngineError::InvalidId)?;
        return match end {
            RangeEnd::Start => id.next().ok_or(EngineError::InvalidStart),
            RangeEnd::End => id.prev().ok_or(EngineError::InvalidEnd),
        };
    }
    match arg {
        b"-" => Ok(StreamId::MIN),
        b"+" => Ok(StreamId::MAX),
        _ => StreamId::parse(arg, missing_seq).ok_or(EngineError::InvalidId),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parse_and_print() {
        assert_eq!(
            StreamId::parse(b"1526919030474-55", 0),
            Some(StreamId::new(1526919030474, 55))
        );
        assert_eq!(StreamId::parse(b"7", 3), Some(StreamId::new(7, 3)));
        assert_eq!(StreamId::new(5, 6).to_string(), "5-6");
        let max = b"18446744073709551615-18446744073709551615";
        assert_eq!(StreamId::parse(max, 0), Some(StreamId::MAX));
        for bad in [
            &b""[..],
            b"-",
            b"+",
            b"1-",
            b"-1",
            b"1-2-3",
            b"a-1",
            b"1-b",
            b" 1-2",
            b"+1-2",
            b"18446744073709551616-0",
            b"1.5-0",
        ] {
            assert_eq!(
                StreamId::parse(bad, 0),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn xadd_ids() {
        let top = StreamId::new(100, 5);
        assert_eq!(AddId::parse(b"*").unwrap(), AddId::Auto);
        assert_eq!(AddId::parse(b"100-*").unwrap(), AddId::AutoSeq(100));
        assert_eq!(
            AddId::parse(b"101").unwrap(),
            AddId::Explicit(StreamId::new(101, 0))
        );
        assert!(matches!(AddId::parse(b"x-*"), Err(EngineError::InvalidId)));
        assert!(matches!(
            AddId::parse(b"1-2-3"),
            Err(EngineError::InvalidId)
        ));

        assert_eq!(
            AddId::Auto.resolve(top, 200).unwrap(),
            StreamId::new(200, 0)
        );
        // The clock went backwards: still above the top.
        assert_eq!(AddId::Auto.resolve(top, 50).unwrap(), StreamId::new(100, 6));
        assert!(matches!(
            AddId::Auto.resolve(StreamId::MAX, 1),
            Err(EngineError::IdExhausted)
        ));

        assert_eq!(
            AddId::AutoSeq(100).resolve(top, 0).unwrap(),
            StreamId::new(100, 6)
        );
        assert_eq!(
            AddId::AutoSeq(101).resolve(top, 0).unwrap(),
            StreamId::new(101, 0)
        );
        assert!(matches!(
            AddId::AutoSeq(99).resolve(top, 0),
            Err(EngineError::IdTooSmall)
        ));
        assert_eq!(
            AddId::AutoSeq(0).resolve(StreamId::MIN, 0).unwrap(),
            StreamId::new(0, 1)
        );

        let explicit = |ms, seq| AddId::Explicit(StreamId::new(ms, seq));
        assert_eq!(
            explicit(100, 6).resolve(top, 0).unwrap(),
            StreamId::new(100, 6)
        );
        assert!(matches!(
            explicit(100, 5).resolve(top, 0),
            Err(EngineError::IdTooSmall)
        ));
        assert!(matches!(
            explicit(0, 0).resolve(StreamId::MIN, 0),
            Err(EngineError::IdZero)
        ));
        assert!(matches!(
            explicit(0, 0).resolve(top, 0),
            Err(EngineError::IdZero)
        ));
        // A stream at the largest ID refuses every XADD but 0-0's own error.
        assert!(matches!(
            explicit(1, 0).resolve(StreamId::MAX, 0),
            Err(EngineError::IdExhausted)
        ));
        assert!(matches!(
            AddId::AutoSeq(u64::MAX).resolve(StreamId::MAX, 0),
            Err(EngineError::IdExhausted)
        ));
        assert!(matches!(
            explicit(0, 0).resolve(StreamId::MAX, 0),
            Err(EngineError::IdZero)
        ));
    }

    #[test]
    fn range_bounds() {
        use RangeEnd::{End, Start};
        assert_eq!(parse_range_bound(b"-", Start).unwrap(), StreamId::MIN);
        assert_eq!(parse_range_bound(b"+", End).unwrap(), StreamId::MAX);
        assert_eq!(parse_range_bound(b"5", Start).unwrap(), StreamId::new(5, 0));
        assert_eq!(
            parse_range_bound(b"5", End).unwrap(),
            StreamId::new(5, u64::MAX)
        );
        assert_eq!(
            parse_range_bound(b"(5-1", Start).unwrap(),
            StreamId::new(5, 2)
        );
        assert_eq!(
            parse_range_bound(b"(5-0", End).unwrap(),
            StreamId::new(4, u64::MAX)
        );
        assert_eq!(
            parse_range_bound(b"(5", Start).unwrap(),
            StreamId::new(5, 1)
        );
        assert_eq!(
            parse_range_bound(b"(5", End).unwrap(),
            StreamId::new(5, u64::MAX - 1)
        );
        let max = b"(18446744073709551615-18446744073709551615";
        assert!(matches!(
            parse_range_bound(max, Start),
            Err(EngineError::InvalidStart)
        ));
        assert!(matches!(
            parse_range_bound(b"(0-0", End),
            Err(EngineError::InvalidEnd)
        ));
        // `(` takes a strict ID: not `-` or `+`.
        assert!(matches!(
            parse_range_bound(b"(-", Start),
            Err(EngineError::InvalidId)
        ));
        assert!(matches!(
            parse_range_bound(b"(+", End),
            Err(EngineError::InvalidId)
        ));
        // A lone `(` is just an invalid ID.
        assert!(matches!(
            parse_range_bound(b"(", Start),
            Err(EngineError::InvalidId)
        ));
    }

    #[test]
    fn error_texts_are_redis_texts() {
        assert_eq!(
            EngineError::InvalidId.to_string(),
            "ERR Invalid stream ID specified as stream command argument"
        );
        assert_eq!(
            EngineError::IdTooSmall.to_string(),
            "ERR The ID specified in XADD is equal or smaller than the target stream top item"
        );
        assert_eq!(
            EngineError::IdZero.to_string(),
            "ERR The ID specified in XADD must be greater than 0-0"
        );
        assert_eq!(
            EngineError::IdExhausted.to_string(),
            "ERR The stream has exhausted the last possible ID, unable to add more items"
        );
        assert_eq!(
            EngineError::InvalidStart.to_string(),
            "ERR invalid start ID for the interval"
        );
        assert_eq!(
            EngineError::InvalidEnd.to_string(),
            "ERR invalid end ID for the interval"
        );
    }

    proptest! {
        #[test]
        fn key_order_is_id_order(a: (u64, u64), b: (u64, u64)) {
            let (x, y) = (StreamId::new(a.0, a.1), StreamId::new(b.0, b.1));
            prop_assert_eq!(x.cmp(&y), x.key().cmp(&y.key()));
            prop_assert_eq!(StreamId::from_key(x.key()), x);
        }

        #[test]
        fn display_parse_round_trip(ms: u64, seq: u64) {
            let id = StreamId::new(ms, seq);
            prop_assert_eq!(StreamId::parse(id.to_string().as_bytes(), 0), Some(id));
        }

        #[test]
        fn next_prev_are_inverse(ms: u64, seq: u64) {
            let id = StreamId::new(ms, seq);
            if let Some(n) = id.next() {
                prop_assert!(n > id);
                prop_assert_eq!(n.prev(), Some(id));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes: Vec<u8>) {
            let _ = StreamId::parse(&bytes, 0);
            let _ = AddId::parse(&bytes);
            let _ = parse_range_bound(&bytes, RangeEnd::Start);
            let _ = parse_range_bound(&bytes, RangeEnd::End);
        }
    }
}
