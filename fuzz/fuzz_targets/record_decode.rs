//! Arbitrary bytes into the record and index decoders never panic, and
//! whatever decodes as a record passes its CRC (re-encoding gives the same
//! bytes). The payload of every record that decodes, and the input itself
//! under every kind, also go through the engine's decoders as `brook
//! verify` runs them (entries, group metadata, the journal of lists and
//! strings, the catalog, the txn redo log): they never panic.
#![no_main]

use std::cell::RefCell;

use brook::engine::check::RecordCheck;
use brook::storage::{index, record};
use libfuzzer_sys::fuzz_target;

/// The logs whose records the engine decodes, by their names' forms.
const LOGS: &[&str] = &["x0000000000000001", "x0000000000000001.m", "memory", "txn"];

thread_local! {
    /// The catalog's check replays records into a scratch keyspace (16
    /// databases, the default): rebuilt every 10,000 inputs so its state
    /// stays small.
    static CATALOG: RefCell<(RecordCheck, u32)> = RefCell::new((catalog(), 0));
}

fn catalog() -> RecordCheck {
    RecordCheck::with_databases("catalog", 16)
}

fn engine_decoders(kind: u8, payload: &[u8]) {
    for log in LOGS {
        let _ = RecordCheck::new(log).record(kind, payload);
    }
    CATALOG.with(|c| {
        let mut c = c.borrow_mut();
        c.1 += 1;
        if c.1 >= 10_000 {
            *c = (catalog(), 0);
        }
        let _ = c.0.record(kind, payload);
    });
}

fuzz_target!(|data: &[u8]| {
    let mut pos = 0;
    while pos < data.len() {
        match record::decode_from(&data[pos..], 1 << 20) {
            Ok(r) => {
                let mut again = Vec::new();
                record::encode_into(&mut again, r.kind, r.key, r.payload);
                assert_eq!(&again[..], &data[pos..pos + r.encoded_len()]);
                engine_decoders(r.kind, r.payload);
                pos += r.encoded_len();
            }
            Err(_) => pos += 1,
        }
    }
    if let Some((&kind, rest)) = data.split_first() {
        engine_decoders(kind, rest);
    }
    let _ = index::header_ok(data, 0);
    let d = index::decode_entries(data, 64, u64::from(u32::MAX));
    for w in d.entries.windows(2) {
        assert!(w[0].key < w[1].key && w[0].pos < w[1].pos);
    }
});
