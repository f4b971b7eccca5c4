//! Crash tests (a) and (b): a last segment cut at every byte offset of its
//! last records, and random bytes flipped in sealed segments.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use brook::storage::segment::parse_segment_name;
use brook::storage::verify::{VerifyReport, verify_log};
use brook::storage::{Io, Log};
use brook::{FsyncPolicy, LogConfig};
use common::{Disk, Rng, payload_for, small_cfg};

fn cfg() -> LogConfig {
    small_cfg(FsyncPolicy::No)
}

/// Every file of a log directory, read into memory.
fn snapshot(io: &dyn Io, dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in io.read_dir(dir).unwrap() {
        let f = io.open(&dir.join(&name), false).unwrap();
        let mut buf = vec![0u8; f.len().unwrap() as usize];
        f.read_at(&mut buf, 0).unwrap();
        out.push((name, buf));
    }
    out.sort();
    out
}

fn restore(io: &dyn Io, dir: &Path, files: &[(String, Vec<u8>)]) {
    io.create_dir_all(dir).unwrap();
    for (name, bytes) in files {
        let f = io.open(&dir.join(name), true).unwrap();
        f.set_len(0).unwrap();
        f.write_at(bytes, 0).unwrap();
    }
}

fn last_segment(files: &[(String, Vec<u8>)]) -> usize {
    files
        .iter()
        .enumerate()
        .filter(|(_, (n, _))| parse_segment_name(n).is_some())
        .max_by_key(|(_, (n, _))| parse_segment_name(n))
        .map(|(i, _)| i)
        .unwrap()
}

fn keys(log: &Log) -> Vec<u128> {
    log.iter_from(0).unwrap().map(|r| r.unwrap().key).collect()
}

/// Builds a log of `n` records with keys 1..=n, payload sizes varying.
fn build(disk: &Disk, n: u128) -> Vec<(String, Vec<u8>)> {
    let log = Log::open(disk.io(), disk.dir(), cfg()).unwrap();
    for k in 1..=n {
        log.append(1, k, &payload_for(k, (k as usize * 37) % 180))
            .unwrap();
    }
    drop(log);
    snapshot(disk.io().as_ref(), &disk.dir())
}

#[test]
fn cut_at_every_offset_of_the_last_records() {
    for disk in Disk::both() {
        let n = 60;
        let files = build(&disk, n);
        let seg = last_segment(&files);
        let (seg_name, seg_bytes) = &files[seg];
        // Positions of the records of the last segment.
        let mut ends = Vec::new();
        let mut pos = 64usize;
        while pos < seg_bytes.len() {
            let len = u32::from_le_bytes(seg_bytes[pos + 4..pos + 8].try_into().unwrap()) as usize;
            if len == 0 && seg_bytes[pos..pos + 26].iter().all(|&b| b == 0) {
                break;
            }
            pos += 26 + len;
            ends.push(pos);
        }
        assert!(ends.len() >= 5, "need several records in the last segment");
        let in_last = ends.len() as u128;
        let first_key_of_last = n - in_last + 1;
        let from = ends[ends.len() - 5];
        let to = *ends.last().unwrap();
        let mut cases = 0;
        for cut in from..=to {
            for garbage in [false, true] {
                let d = match &disk {
                    Disk::Fs(_) => Disk::fs(),
                    Disk::Sim(_) => Disk::sim(),
                };
                let io = d.io();
                let mut damaged = files.clone();
                let bytes = &mut damaged[seg].1;
                if garbage {
                    // A torn write: the bytes after the cut are noise.
                    for (i, b) in bytes[cut..to].iter_mut().enumerate() {
                        *b = (i as u8).wrapping_mul(31).wrapping_add(7) | 1;
                    }
                } else {
                    bytes.truncate(cut);
                }
                restore(io.as_ref(), &d.dir(), &damaged);
                let log = Log::open(io.clone(), d.dir(), cfg()).unwrap();
                let complete = ends.iter().filter(|&&e| e <= cut).count() as u128;
                let want: Vec<u128> = (1..first_key_of_last + complete).collect();
                assert_eq!(
                    keys(&log),
                    want,
                    "{seg_name} cut at {cut} garbage={garbage}"
                );
                let valid_end = ends
                    .iter()
                    .copied()
                    .filter(|&e| e <= cut)
                    .max()
                    .unwrap_or(64);
                let torn = log.recovery().torn_bytes;
                if garbage {
                    assert_eq!(torn as usize, to - valid_end, "cut at {cut}");
                } else {
                    assert!(
                        torn as usize <= cut - valid_end,
                        "cut at {cut}: torn {torn}"
                    );
                }
                // Appends work afterwards, and the cut-off bytes never come
                // back as records.
                let next = *want.last().unwrap() + 1;
                log.append(1, next, b"x").unwrap();
                drop(log);
                let log = Log::open(io, d.dir(), cfg()).unwrap();
                let mut want = want;
                want.push(next);
                assert_eq!(keys(&log), want, "after append, cut at {cut}");
                assert_eq!(log.recovery().torn_bytes, 0);
                cases += 1;
            }
        }
        assert!(cases > 100);
    }
}

#[test]
fn flipped_bytes_in_sealed_segments_are_reported() {
    let disk = Disk::fs();
    let n = 300;
    let files = build(&disk, n);
    let last = last_segment(&files);
    let sealed: Vec<usize> = files
        .iter()
        .enumerate()
        .filter(|(i, (name, _))| *i != last && name.ends_with(".seg"))
        .map(|(i, _)| i)
        .collect();
    assert!(sealed.len() >= 3);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..200 {
        let victim = sealed[(rng.next() % sealed.len() as u64) as usize];
        let mut damaged = files.clone();
        let bytes = &mut damaged[victim].1;
        let at = (rng.next() % bytes.len() as u64) as usize;
        let flip = (rng.next() % 255 + 1) as u8;
        bytes[at] ^= flip;
        let d = if round % 2 == 0 {
            Disk::fs()
        } else {
            Disk::sim()
        };
        let io: Arc<dyn Io> = d.io();
        restore(io.as_ref(), &d.dir(), &damaged);

        let mut report = VerifyReport::default();
        verify_log(io.as_ref(), &d.dir(), 64 << 10, &mut report);
        assert!(
            !report.problems.is_empty(),
            "verify missed a flip at {at} of {}",
            damaged[victim].0
        );

        let log = Log::open(io.clone(), d.dir(), cfg()).unwrap();
        let mut seen = Vec::new();
        let mut error = None;
        let iter = match log.iter_from(0) {
            Ok(it) => Some(it),
            Err(e) => {
                error = Some(e);
                None
            }
        };
        for r in iter.into_iter().flatten() {
            match r {
                Ok(rec) => {
                    assert_eq!(
                        &rec.payload[..],
                        &payload_for(rec.key, (rec.key as usize * 37) % 180)[..],
                        "garbage served for key {}",
                        rec.key
                    );
                    seen.push(rec.key);
                }
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        let e =
            error.unwrap_or_else(|| panic!("flip at {at} of {} went unnoticed", damaged[victim].0));
        assert!(e.is_corruption(), "{e}");
        let want: Vec<u128> = (1..=seen.len() as u128).collect();
        assert_eq!(seen, want, "records before the damage are served in order");
    }
}

#[test]
fn damaged_or_missing_index_is_rebuilt() {
    for disk in Disk::both() {
        let files = build(&disk, 300);
        for (mode, what) in [(0, "missing"), (1, "short"), (2, "garbage")] {
            let d = match &disk {
                Disk::Fs(_) => Disk::fs(),
                Disk::Sim(_) => Disk::sim(),
            };
            let mut damaged: Vec<(String, Vec<u8>)> = Vec::new();
            for (name, bytes) in &files {
                if name.ends_with(".idx") {
                    match mode {
                        0 => continue,
                        1 => damaged
                            .push((name.clone(), bytes[..bytes.len().min(64 + 24 + 7)].to_vec())),
                        _ => {
                            let mut b = bytes.clone();
                            for x in b.iter_mut().skip(80) {
                                *x = x.wrapping_add(91);
                            }
                            damaged.push((name.clone(), b));
                        }
                    }
                } else {
                    damaged.push((name.clone(), bytes.clone()));
                }
            }
            restore(d.io().as_ref(), &d.dir(), &damaged);
            let log = Log::open(d.io(), d.dir(), cfg()).unwrap();
            assert_eq!(keys(&log), (1..=300).collect::<Vec<_>>(), "index {what}");
            for probe in [1u128, 77, 150, 299, 300] {
                assert_eq!(
                    log.first_ge(probe).unwrap().unwrap().key,
                    probe,
                    "index {what}"
                );
                assert_eq!(
                    log.last_le(probe).unwrap().unwrap().key,
                    probe,
                    "index {what}"
                );
            }
            let back: Vec<u128> = log
                .iter_back_from(300)
                .unwrap()
                .map(|r| r.unwrap().key)
                .collect();
            assert_eq!(back, (1..=300).rev().collect::<Vec<_>>());
            drop(log);
            // The rebuilt index files are now whole again.
            let mut report = VerifyReport::default();
            verify_log(d.io().as_ref(), &d.dir(), 64 << 10, &mut report);
            assert_eq!(report.problems, Vec::<String>::new(), "index {what}");
            let idx: Vec<PathBuf> = d
                .io()
                .read_dir(&d.dir())
                .unwrap()
                .into_iter()
                .filter(|n| n.ends_with(".idx"))
                .map(PathBuf::from)
                .collect();
            assert!(!idx.is_empty());
        }
    }
}

#[test]
fn sealed_segment_with_a_zero_tail_reads_cleanly() {
    // A seal whose truncation did not reach the disk before a power loss
    // leaves preallocated zeros after the last record of a sealed segment,
    // sometimes fewer than a record header. That is unwritten space, not
    // damage.
    for tail in [1usize, 12, 25, 26, 100, 3000] {
        for disk in Disk::both() {
            let files = build(&disk, 300);
            let last = last_segment(&files);
            let d = match &disk {
                Disk::Fs(_) => Disk::fs(),
                Disk::Sim(_) => Disk::sim(),
            };
            let mut damaged = files.clone();
            for (i, (name, bytes)) in damaged.iter_mut().enumerate() {
                if i != last && name.ends_with(".seg") {
                    bytes.extend(std::iter::repeat_n(0u8, tail));
                }
            }
            restore(d.io().as_ref(), &d.dir(), &damaged);
            let log = Log::open(d.io(), d.dir(), cfg()).unwrap();
            assert_eq!(
                keys(&log),
                (1..=300).collect::<Vec<_>>(),
                "zero tail of {tail}"
            );
            let back: Vec<u128> = log
                .iter_back_from(300)
                .unwrap()
                .map(|r| r.unwrap().key)
                .collect();
            assert_eq!(back.len(), 300, "zero tail of {tail}");
        }
    }
}
