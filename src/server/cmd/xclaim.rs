//! XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms]
//! [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID]
//! [LASTID lastid]
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, parse_i64};
use super::reply;
use super::xgroup::group_stream;
use crate::engine::groups::ClaimOptions;
use crate::engine::id::StreamId;
use crate::error::NoGroupForm;
use crate::resp::frame::Frame;

/// What XCLAIM asks after the key, group and consumer. `when` is the
/// delivery time asked: IDLE (`true`, ms ago) or TIME (a Unix time in ms).
#[derive(Debug, PartialEq, Eq)]
struct Claim {
    min_idle_ms: u64,
    ids: Vec<StreamId>,
    when: Option<(bool, i64)>,
    opts: ClaimOptions,
}

/// XCLAIM.
pub struct XClaim {
    key: Bytes,
    group: Bytes,
    consumer: Bytes,
    /// The rest; Redis reports its errors after the key and group checks.
    claim: Result<Claim, CmdError>,
}

impl XClaim {
    /// # Format
    ///
    /// `key group consumer min-idle-time id [id ...] [options]`: the IDs
    /// run up to the first argument that is not an ID, the options follow.
    pub fn parse(args: &mut Args) -> Result<XClaim, CmdError> {
        let (key, group, consumer) = (args.need()?, args.need()?, args.need()?);
        let claim = parse_claim(args);
        args.rest();
        Ok(XClaim {
            key,
            group,
            consumer,
            claim,
        })
    }

    /// Claims the entries; replies them, or their IDs with JUSTID.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let s = group_stream(ctx, &self.key, &self.group, NoGroupForm::KeyOrGroup)?;
        let mut c = self.claim?;
        let now = i64::try_from(ctx.now_ms).unwrap_or(i64::MAX);
        c.opts.delivery_ms = c.when.map(|(idle, t)| {
            let t = if idle {
                now.checked_sub(t).unwrap_or(now)
            } else {
                t
            };
            // Redis takes a bogus time (negative, in the future) as now.
            u64::try_from(if (0..=now).contains(&t) { t } else { now }).unwrap_or(0)
        });
        let (key, group, consumer) = (&self.key, &self.group, &self.consumer);
        let (got, commits) = s.claim(
            key,
            group,
            consumer,
            c.min_idle_ms,
            &c.ids,
            &c.opts,
            ctx.now_ms,
        )?;
        let items = match c.opts.just_id {
            true => got.iter().map(|e| reply::id(e.0)).collect(),
            false => got.iter().map(reply::maybe_entry).collect(),
        };
        Ok(Outcome::Durable(Frame::Array(items), commits))
    }
}

fn parse_claim(args: &mut Args) -> Result<Claim, CmdError> {
    let int = |b: Option<Bytes>, what: &str| {
        let text = format!("Invalid {what} argument for XCLAIM");
        b.as_deref()
            .and_then(parse_i64)
            .ok_or_else(|| CmdError::err(text))
    };
    let min_idle_ms = u64::try_from(int(args.next(), "min-idle-time")?).unwrap_or(0);
    let mut ids = Vec::new();
    while let Some(id) = args.peek().and_then(|b| StreamId::parse(b, 0)) {
        ids.push(id);
        args.next();
    }
    let mut c = Claim {
        min_idle_ms,
        ids,
        when: None,
        opts: ClaimOptions::default(),
    };
    while let Some(opt) = args.next() {
        let more = args.left() > 0;
        let is = |w: &str| opt.eq_ignore_ascii_case(w.as_bytes());
        if is("FORCE") {
            c.opts.force = true;
        } else if is("JUSTID") {
            c.opts.just_id = true;
        } else if is("IDLE") && more {
            c.when = Some((true, int(args.next(), "IDLE option")?));
        } else if is("TIME") && more {
            c.when = Some((false, int(args.next(), "TIME option")?));
        } else if is("RETRYCOUNT") && more {
            // A negative count is as none.
            c.opts.retry_count = u64::try_from(int(args.next(), "RETRYCOUNT option")?).ok();
        } else if is("LASTID") && more {
            c.opts.last_id = Some(args.id()?);
        } else {
            let opt = String::from_utf8_lossy(&opt);
            return Err(CmdError::err(format_args!(
                "Unrecognized XCLAIM option '{opt}'"
            )));
        }
    }
    Ok(c)
}

/// Runs XCLAIM.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XClaim::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::super::xread::test_args;
    use super::*;

    fn parse(line: &str) -> Result<Claim, CmdError> {
        XClaim::parse(&mut test_args(&format!("XCLAIM {line}")))
            .unwrap()
            .claim
    }

    #[test]
    fn ids_then_options() {
        let c = parse("k g c -5 1 2-3 IDLE 10 TIME 7 RETRYCOUNT -1 FORCE justid LASTID 9").unwrap();
        assert_eq!((c.min_idle_ms, c.when), (0, Some((false, 7))));
        assert_eq!(c.ids, [StreamId::new(1, 0), StreamId::new(2, 3)]);
        assert!(c.opts.force && c.opts.just_id && c.opts.retry_count.is_none());
        assert_eq!(c.opts.last_id, Some(StreamId::new(9, 0)));
        let c = parse("k g c 100 JUSTID IDLE 5").unwrap();
        assert!(c.ids.is_empty() && c.opts.just_id);
        assert_eq!((c.min_idle_ms, c.when), (100, Some((true, 5))));
    }

    #[test]
    fn errors() {
        let invalid = |what: &str| format!("ERR Invalid {what} argument for XCLAIM");
        for (line, want) in [
            ("k g c x 1", invalid("min-idle-time")),
            ("k g c 0 1 IDLE x", invalid("IDLE option")),
            ("k g c 0 1 TIME x", invalid("TIME option")),
            ("k g c 0 1 RETRYCOUNT x", invalid("RETRYCOUNT option")),
            (
                "k g c 0 1 LASTID x",
                "ERR Invalid stream ID specified as stream command argument".into(),
            ),
            (
                "k g c 0 1 IDLE",
                "ERR Unrecognized XCLAIM option 'IDLE'".into(),
            ),
            (
                "k g c 0 1 JUSTID 2-0",
                "ERR Unrecognized XCLAIM option '2-0'".into(),
            ),
            ("k g c 0 +", "ERR Unrecognized XCLAIM option '+'".into()),
        ] {
            assert_eq!(parse(line).err().map(|e| e.0), Some(want), "{line}");
        }
    }
}
