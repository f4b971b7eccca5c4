//! Decoding checks of the engine's records, for `brook verify`: each record
//! that passed the storage layer's checks (CRC, key order) is decoded as what
//! its log holds, without opening the engine, so that a damaged but
//! CRC-consistent record, or a record of a kind this version does not know,
//! is reported. Nothing is written.

use bytes::Bytes;

use super::codec::Reader;
use super::keyspace::{CATALOG, CatalogCheck, MEMORY};
use super::memory::{J_OPS, J_SNAP_BEGIN, J_SNAP_END, J_SNAP_ITEM, decode_ops};
use super::txn::{KIND_CHECKPOINT, KIND_TXN, TXN_LOG};
use super::{entry, meta};

/// Checks the records of one log, in key order.
pub struct RecordCheck {
    log: String,
    /// The catalog's replay state; only for the catalog.
    catalog: Option<CatalogCheck>,
}

impl RecordCheck {
    /// A check of the log named `log` (its directory's name), for any
    /// number of databases a server may have had (`databases` goes up to a
    /// million; an empty database costs 48 bytes here).
    pub fn new(log: &str) -> RecordCheck {
        RecordCheck::with_databases(log, 1_000_000)
    }

    /// A check of the log named `log` for a server with `databases`
    /// databases (a catalog record naming a database beyond it fails).
    pub fn with_databases(log: &str, databases: usize) -> RecordCheck {
        RecordCheck {
            log: log.to_string(),
            catalog: (log == CATALOG).then(|| CatalogCheck::new(databases)),
        }
    }

    /// Decodes the next record; the error says what it failed to be.
    pub fn record(&mut self, kind: u8, payload: &[u8]) -> Result<(), String> {
        let ok = match self.log.as_str() {
            CATALOG => self
                .catalog
                .as_mut()
                .is_some_and(|c| c.record(kind, payload)),
            MEMORY => journal(kind, payload),
            TXN_LOG => match kind {
                KIND_TXN => super::txn::decode(Bytes::copy_from_slice(payload)).is_ok(),
                KIND_CHECKPOINT => only_u128(payload),
                _ => false,
            },
            name if name.starts_with('x') && name.ends_with(".m") => {
                meta::Op::decode(kind, Bytes::copy_from_slice(payload)).is_ok()
            }
            name if name.starts_with('x') => {
                entry::is_entry_kind(kind)
                    && entry::decode(kind, Bytes::copy_from_slice(payload)).is_ok()
            }
            // Not a log of the engine's: the storage checks are all there is.
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "(kind {kind}) does not decode as a record of log {}",
                self.log
            ))
        }
    }
}

/// A record of the journal of lists and strings (docs/format.md).
fn journal(kind: u8, payload: &[u8]) -> bool {
    match kind {
        J_OPS => decode_ops(payload).is_ok(),
        J_SNAP_BEGIN => payload.is_empty(),
        J_SNAP_END => only_u128(payload),
        J_SNAP_ITEM => {
            let mut r = Reader::new(payload);
            r.u128().is_ok() && decode_ops(&payload[r.offset()..]).is_ok()
        }
        _ => false,
    }
}

fn only_u128(payload: &[u8]) -> bool {
    let mut r = Reader::new(payload);
    r.u128().is_ok() && r.offset() == payload.len()
}
