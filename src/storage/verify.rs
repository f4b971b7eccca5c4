//! Read-only checks of a stopped data directory: every record of every
//! segment against its CRC, the order of keys, and every index entry against
//! the record it points to. Nothing is repaired or written.

use std::path::Path;

use super::index::{self, INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES};
use super::io::Io;
use super::record::{self, DecodeError};
use super::segment::{self, SEGMENT_HEADER_BYTES, parse_segment_name};

/// What a check found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Logs checked.
    pub logs: u64,
    /// Segments checked.
    pub segments: u64,
    /// Records that passed their checks.
    pub records: u64,
    /// Bytes of segment files read.
    pub bytes: u64,
    /// One line per problem found, naming the file and offset.
    pub problems: Vec<String>,
}

/// Checks one log directory, adding what it finds to `report`.
/// `max_payload` bounds a record's length, as the log's config does.
pub fn verify_log(io: &dyn Io, dir: &Path, max_payload: usize, report: &mut VerifyReport) {
    verify_log_with(io, dir, max_payload, report, &mut |_, _| Ok(()));
}

/// What [`verify_log_with`] hands each record to: its kind and payload; an
/// error names what the record failed to be.
pub type CheckRecord<'a> = dyn FnMut(u8, &[u8]) -> Result<(), String> + 'a;

/// [`verify_log`], also handing every record that passed its checks to
/// `check` (kind, payload), in key order: the layer above decodes it, and
/// what it refuses is reported with the file and offset.
pub fn verify_log_with(
    io: &dyn Io,
    dir: &Path,
    max_payload: usize,
    report: &mut VerifyReport,
    check: &mut CheckRecord<'_>,
) {
    report.logs += 1;
    let names = match io.read_dir(dir) {
        Ok(n) => n,
        Err(e) => {
            report.problems.push(format!("{}: {e}", dir.display()));
            return;
        }
    };
    let mut bases: Vec<u128> = names.iter().filter_map(|n| parse_segment_name(n)).collect();
    bases.sort_unstable();
    let mut prev_key: Option<u128> = None;
    let last = bases.last().copied();
    for base in bases {
        report.segments += 1;
        let path = dir.join(segment::segment_file_name(base));
        let bytes = match io
            .open(&path, false)
            .and_then(|f| f.len().and_then(|len| f.map(len)))
        {
            Ok(b) => b,
            Err(e) => {
                report.problems.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        report.bytes += bytes.len() as u64;
        if let Err(e) = segment::check_header(&bytes, base, &path) {
            report.problems.push(e.to_string());
            continue;
        }
        let mut pos = SEGMENT_HEADER_BYTES as usize;
        let mut keys = Vec::new();
        while pos < bytes.len() {
            match record::decode_from(&bytes[pos..], max_payload) {
                Ok(r) => {
                    if prev_key.is_some_and(|k| r.key <= k) {
                        report.problems.push(format!(
                            "{} at offset {pos}: key {:#x} does not increase",
                            path.display(),
                            r.key
                        ));
                        break;
                    }
                    if keys.is_empty() && r.key != base {
                        report.problems.push(format!(
                            "{}: first key {:#x} differs from the file name",
                            path.display(),
                            r.key
                        ));
                    }
                    prev_key = Some(r.key);
                    keys.push((pos as u32, r.key));
                    if let Err(why) = check(r.kind, r.payload) {
                        report.problems.push(format!(
                            "{} at offset {pos}: record {:#x} {why}",
                            path.display(),
                            r.key
                        ));
                    }
                    report.records += 1;
                    pos += r.encoded_len();
                }
                Err(DecodeError::End)
                    if Some(base) == last && bytes[pos..].iter().all(|&b| b == 0) =>
                {
                    // The active segment's preallocated, unwritten end.
                    break;
                }
                Err(e) => {
                    report
                        .problems
                        .push(segment::decode_error(&path, pos as u64, e).to_string());
                    break;
                }
            }
        }
        let idx_path = dir.join(segment::index_file_name(base));
        let Ok(idx) = io.open(&idx_path, false) else {
            continue;
        };
        // An index never needs more than one entry per record (plus the
        // seal entry); a larger file is damaged, and its size must not drive
        // the allocation.
        let most = INDEX_HEADER_BYTES as u64
            + INDEX_ENTRY_BYTES as u64
                * (bytes.len() as u64 / record::RECORD_HEADER_BYTES as u64 + 1);
        let mut buf = vec![0u8; idx.len().unwrap_or(0).min(most) as usize];
        if idx.read_at(&mut buf, 0).is_err() || !index::header_ok(&buf, base) {
            report.problems.push(format!(
                "{}: unreadable index header (it is rebuilt on open)",
                idx_path.display()
            ));
            continue;
        }
        let decoded = index::decode_entries(
            &buf[INDEX_HEADER_BYTES..],
            SEGMENT_HEADER_BYTES as u32,
            bytes.len() as u64,
        );
        for e in decoded.entries {
            if keys.binary_search(&(e.pos, e.key)).is_err() {
                report.problems.push(format!(
                    "{}: entry for key {:#x} at {} matches no record (it is rebuilt on open)",
                    idx_path.display(),
                    e.key,
                    e.pos
                ));
                break;
            }
        }
    }
}
