//! Arbitrary bytes, fed in arbitrary pieces, into the request parser never
//! panic; every argument it returns fits the bulk limit; and the same bytes
//! fed at once give the same requests.
#![no_main]

use brook::resp::parse::{ProtocolError, RequestParser};
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

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
    let step = usize::from(split).max(1);
    let pieces: Vec<&[u8]> = rest.chunks(step).collect();
    let (a, ea) = run(&pieces);
    let (b, eb) = run(&[rest]);
    assert_eq!(ea, eb);
    assert_eq!(a, b);
});
