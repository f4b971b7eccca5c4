//! Arbitrary bytes into the record and index decoders never panic, and
//! whatever decodes as a record passes its CRC (re-encoding gives the same
//! bytes).
#![no_main]

use brook::storage::{index, record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut pos = 0;
    while pos < data.len() {
        match record::decode_from(&data[pos..], 1 << 20) {
            Ok(r) => {
                let mut again = Vec::new();
                record::encode_into(&mut again, r.kind, r.key, r.payload);
                assert_eq!(&again[..], &data[pos..pos + r.encoded_len()]);
                pos += r.encoded_len();
            }
            Err(_) => pos += 1,
        }
    }
    let _ = index::header_ok(data, 0);
    let d = index::decode_entries(data, 64, u64::from(u32::MAX));
    for w in d.entries.windows(2) {
        assert!(w[0].key < w[1].key && w[0].pos < w[1].pos);
    }
});
