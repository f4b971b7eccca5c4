//! Two checks, chosen by the first byte's top bit:
//! - requests: arbitrary bytes, fed in arbitrary pieces, into the request
//!   parser never panic; every argument it returns fits the bulk limit; and
//!   the same bytes fed at once give the same requests;
//! - frames: an arbitrary frame, encoded, parses back as itself
//!   (`parse(encode(frame)) == frame`) in RESP3, and as one complete frame in
//!   RESP2 (where maps, sets and pushes become arrays); arbitrary bytes into
//!   the reply parser never panic.
#![no_main]

use brook::resp::frame::{Frame, Protocol};
use brook::resp::parse::{ProtocolError, RequestParser};
use brook::resp::reply::parse_reply;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

/// An arbitrary frame as RESP3 reads it back: no `Raw`, no `NullArray`
/// (both nulls are `_`), no NaN (not equal to itself), and simple strings
/// without CR or LF (the encoder replaces them).
fn frame(u: &mut Unstructured, depth: u32) -> Result<Frame> {
    let line = |u: &mut Unstructured| -> Result<Bytes> {
        let b: Vec<u8> = u.arbitrary()?;
        Ok(b.into_iter()
            .filter(|&c| c != b'\r' && c != b'\n')
            .collect())
    };
    let pick = if depth >= 4 {
        u.int_in_range(0..=6)?
    } else {
        u.int_in_range(0..=10)?
    };
    Ok(match pick {
        0 => Frame::Simple(line(u)?),
        1 => Frame::Error(line(u)?),
        2 => Frame::Integer(u.arbitrary()?),
        3 => Frame::Bulk(Bytes::from(u.arbitrary::<Vec<u8>>()?)),
        4 => Frame::Null,
        5 => {
            let d: f64 = u.arbitrary()?;
            Frame::Double(if d.is_nan() { 0.0 } else { d })
        }
        6 => Frame::Boolean(u.arbitrary()?),
        7 => Frame::Array(items(u, depth)?),
        8 => Frame::Set(items(u, depth)?),
        9 => Frame::Push(items(u, depth)?),
        _ => {
            let mut pairs = Vec::new();
            for _ in 0..u.int_in_range(0..=4)? {
                pairs.push((frame(u, depth + 1)?, frame(u, depth + 1)?));
            }
            Frame::Map(pairs)
        }
    })
}

fn items(u: &mut Unstructured, depth: u32) -> Result<Vec<Frame>> {
    (0..u.int_in_range(0..=5)?)
        .map(|_| frame(u, depth + 1))
        .collect()
}

fn frames(data: &[u8]) {
    let _ = parse_reply(data);
    let mut u = Unstructured::new(data);
    let Ok(f) = frame(&mut u, 0) else {
        return;
    };
    let b3 = f.to_bytes(Protocol::Resp3);
    match parse_reply(&b3) {
        Ok(Some((g, used))) => {
            assert_eq!(used, b3.len());
            assert_eq!(g, f);
        }
        other => panic!("{f:?} encoded as {b3:?} parsed as {other:?}"),
    }
    let b2 = f.to_bytes(Protocol::Resp2);
    match parse_reply(&b2) {
        Ok(Some((_, used))) => assert_eq!(used, b2.len()),
        other => panic!("{f:?} encoded as {b2:?} parsed as {other:?}"),
    }
}

const MAX_BULK: usize = 4096;

fn run(chunks: &[&[u8]]) -> (Vec<Vec<Bytes>>, Option<ProtocolError>) {
    let mut p = RequestParser::new(MAX_BULK);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for c in chunks {
        buf.extend_from_slice(c);
        loop {
            match p.next(&mut buf) {
                Ok(Some(args)) => {
                    assert!(args.iter().all(|a| a.len() <= MAX_BULK.max(64 * 1024)));
                    out.push(args);
                }
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    if split & 0x80 != 0 {
        frames(rest);
        return;
    }
    let step = usize::from(split).max(1);
    let pieces: Vec<&[u8]> = rest.chunks(step).collect();
    let (a, ea) = run(&pieces);
    let (b, eb) = run(&[rest]);
    assert_eq!(ea, eb);
    assert_eq!(a, b);
});
