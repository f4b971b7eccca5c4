//! XCFGSET key [IDMP-DURATION seconds] [IDMP-MAXSIZE count]
//! [FSYNC always|everysec|no] [MAXAGE ms] [MAXBYTES bytes] [SEGMENT-BYTES bytes]
//! and XCFGGET key
//!
//! IDMP-DURATION (1..86400) and IDMP-MAXSIZE (1..10000) are Redis 8.6's
//! idempotent-producer settings: Brook has no idempotent producers, so they
//! are checked as Redis checks them and then have no effect. FSYNC, MAXAGE,
//! MAXBYTES and SEGMENT-BYTES are Brook's per-stream settings (MAXAGE and
//! MAXBYTES 0: no limit of the stream's own, the server's default applies).

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, bulk_str};
use super::reply::map;
use crate::config::{FsyncPolicy, MAX_BATCH_BYTES};
use crate::error::EngineError;
use crate::resp::frame::Frame;

/// XCFGSET: changes a stream's settings.
#[derive(Debug, Default, PartialEq)]
pub struct XCfgSet {
    key: Bytes,
    fsync: Option<FsyncPolicy>,
    max_age_ms: Option<u64>,
    max_bytes: Option<u64>,
    segment_bytes: Option<u64>,
}

/// The next argument as an integer in `lo..=hi`, else Redis 8.6's error
/// for IDMP-DURATION and IDMP-MAXSIZE.
fn within(args: &mut Args, name: &str, lo: i64, hi: i64, unit: &str) -> Result<u64, CmdError> {
    let n = args.i64()?;
    let bad = || CmdError::err(format!("{name} must be between {lo} and {hi}{unit}"));
    u64::try_from(n)
        .ok()
        .filter(|_| (lo..=hi).contains(&n))
        .ok_or_else(bad)
}

impl XCfgSet {
    /// # Format
    ///
    /// `XCFGSET key option value [option value ...]`: at least one option,
    /// in any order; a repeated one takes its last value.
    pub fn parse(args: &mut Args) -> Result<XCfgSet, CmdError> {
        let key = args.need()?;
        let mut s = XCfgSet {
            key,
            ..XCfgSet::default()
        };
        if args.left() == 0 {
            return Err(CmdError::err("At least one parameter must be specified"));
        }
        while let Some(opt) = args.next() {
            if args.left() == 0 {
                return Err(CmdError::syntax());
            }
            match &opt.to_ascii_uppercase()[..] {
                // Checked, then without effect.
                b"IDMP-DURATION" => {
                    within(args, "IDMP-DURATION", 1, 86400, " seconds")?;
                }
                b"IDMP-MAXSIZE" => {
                    within(args, "IDMP-MAXSIZE", 1, 10000, " entries")?;
                }
                b"FSYNC" => {
                    let v = String::from_utf8_lossy(&args.need()?).into_owned();
                    let bad = || CmdError::err("FSYNC must be one of always, everysec, no");
                    s.fsync = Some(FsyncPolicy::parse(&v).ok_or_else(bad)?);
                }
                b"MAXAGE" => s.max_age_ms = Some(args.u64_or("ERR MAXAGE must be >= 0")?),
                b"MAXBYTES" => s.max_bytes = Some(args.u64_or("ERR MAXBYTES must be >= 0")?),
                b"SEGMENT-BYTES" => {
                    let hi = MAX_BATCH_BYTES as i64;
                    s.segment_bytes = Some(within(args, "SEGMENT-BYTES", 4096, hi, " bytes")?);
                }
                _ => return Err(CmdError::syntax()),
            }
        }
        Ok(s)
    }

    /// OK; `ERR no such key` for a missing key. The settings are persisted
    /// with the key and take effect at once.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let db = ctx.db();
        let Some(mut own) = ctx.engine.stream_settings(db, &self.key)? else {
            return Err(EngineError::NoSuchKey.into());
        };
        let before = own;
        own.fsync = self.fsync.or(own.fsync);
        own.segment_bytes = self.segment_bytes.or(own.segment_bytes);
        own.max_age_ms = self
            .max_age_ms
            .map_or(own.max_age_ms, |n| (n > 0).then_some(n));
        own.max_bytes = self
            .max_bytes
            .map_or(own.max_bytes, |n| (n > 0).then_some(n));
        if own != before {
            ctx.engine.set_stream_settings(db, &self.key, own)?;
        }
        Ok(Frame::ok().into())
    }
}

/// XCFGGET: a stream's settings as in force.
#[derive(Debug, PartialEq)]
pub struct XCfgGet {
    key: Bytes,
}

impl XCfgGet {
    /// # Format
    ///
    /// `XCFGGET key`
    pub fn parse(args: &mut Args) -> Result<XCfgGet, CmdError> {
        let key = args.need()?;
        args.end()?;
        Ok(XCfgGet { key })
    }

    /// A map of `fsync`, `segment-bytes`, `maxage` and `maxbytes` (0: no
    /// limit): the stream's own settings over the server's defaults.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let Some(own) = ctx.engine.stream_settings(ctx.db(), &self.key)? else {
            return Err(EngineError::NoSuchKey.into());
        };
        let s = ctx.engine.effective_settings(own);
        let int =
            |n: Option<u64>| Frame::Integer(i64::try_from(n.unwrap_or(0)).unwrap_or(i64::MAX));
        Ok(map(vec![
            ("fsync", bulk_str(s.fsync.unwrap_or_default().as_str())),
            ("segment-bytes", int(s.segment_bytes)),
            ("maxage", int(s.max_age_ms)),
            ("maxbytes", int(s.max_bytes)),
        ])
        .into())
    }
}

/// Runs XCFGSET.
pub fn run_set(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XCfgSet::parse(&mut args)?.apply(ctx)
}

/// Runs XCFGGET.
pub fn run_get(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XCfgGet::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &'static str) -> Result<XCfgSet, String> {
        let items = line.split(' ').map(Bytes::from).collect();
        XCfgSet::parse(&mut Args::new(items)).map_err(|e| e.0)
    }

    #[test]
    fn options() {
        let s = parse("XCFGSET s fsync ALWAYS maxage 0 MAXBYTES 9 segment-bytes 4096").unwrap();
        assert_eq!(
            (s.fsync, s.max_age_ms),
            (Some(FsyncPolicy::Always), Some(0))
        );
        assert_eq!((s.max_bytes, s.segment_bytes), (Some(9), Some(4096)));
        assert_eq!(
            parse("XCFGSET s IDMP-DURATION 1 IDMP-MAXSIZE 10000")
                .unwrap()
                .fsync,
            None
        );
    }

    #[test]
    fn errors() {
        let e = |l| parse(l).err().unwrap_or_default();
        assert_eq!(
            e("XCFGSET s"),
            "ERR At least one parameter must be specified"
        );
        assert_eq!(e("XCFGSET s IDMP-DURATION"), "ERR syntax error");
        assert_eq!(e("XCFGSET s INVALID 1"), "ERR syntax error");
        assert_eq!(
            e("XCFGSET s IDMP-DURATION A IDMP-MAXSIZE"),
            CmdError::not_int().0
        );
        let duration = "ERR IDMP-DURATION must be between 1 and 86400 seconds";
        assert_eq!(e("XCFGSET s IDMP-DURATION 86401"), duration);
        assert_eq!(
            e("XCFGSET s IDMP-MAXSIZE 0").split(" must").next(),
            Some("ERR IDMP-MAXSIZE")
        );
        assert_eq!(
            e("XCFGSET s FSYNC sometimes"),
            "ERR FSYNC must be one of always, everysec, no"
        );
        assert!(e("XCFGSET s SEGMENT-BYTES 4095").starts_with("ERR SEGMENT-BYTES must be"));
        assert_eq!(e("XCFGSET s MAXAGE -1"), "ERR MAXAGE must be >= 0");
    }
}
