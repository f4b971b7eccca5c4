//! XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]]
//! [IFTOP id | IFEMPTY] *|id field value [field value ...]
//!
//! IFTOP and IFEMPTY are Brook's optimistic concurrency: the entry is
//! appended only if the stream's top ID (0-0 for a missing stream) is `id`,
//! or only if the stream is missing or empty; otherwise a CONFLICT error.

use crate::server::events as ev;
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use super::reply;
use super::table::wrong_arity;
use super::xtrim::TrimArgs;
use crate::engine::id::{AddId, StreamId};
use crate::engine::stream::Trim;
use crate::error::EngineError;
use crate::resp::frame::Frame;

/// A condition on the stream before an append (Brook).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// IFTOP: the top ID must be this one.
    Top(StreamId),
    /// IFEMPTY: the stream must be missing or empty.
    Empty,
}

/// Reads IFTOP id or IFEMPTY if `opt` is one of them; one per entry.
pub(super) fn cond(opt: &[u8], args: &mut Args, c: &mut Option<Cond>) -> Result<bool, CmdError> {
    let new = if opt.eq_ignore_ascii_case(b"IFTOP") && args.left() > 0 {
        Cond::Top(args.id()?)
    } else if opt.eq_ignore_ascii_case(b"IFEMPTY") {
        Cond::Empty
    } else {
        return Ok(false);
    };
    match c.replace(new) {
        Some(_) => Err(CmdError::syntax()),
        None => Ok(true),
    }
}

/// IFEMPTY's error on a stream with entries.
pub(super) fn not_empty(last: StreamId) -> CmdError {
    CmdError(format!(
        "CONFLICT the stream is not empty, its last ID is {last}"
    ))
}

/// XADD: appends an entry.
#[derive(Debug, PartialEq)]
pub struct XAdd {
    key: Bytes,
    nomkstream: bool,
    trim: Option<Trim>,
    cond: Option<Cond>,
    id: AddId,
    fields: Vec<(Bytes, Bytes)>,
}

impl XAdd {
    /// # Format
    ///
    /// `XADD key [options] *|id field value [field value ...]`: options in
    /// any order, the first argument that is none of them is the ID.
    pub fn parse(args: &mut Args) -> Result<XAdd, CmdError> {
        let key = args.need()?;
        let (mut t, mut nomkstream, mut c, mut id) = (TrimArgs::default(), false, None, None);
        while let Some(opt) = args.next() {
            if opt[..] == b"*"[..] {
                id = Some(AddId::Auto);
                break;
            } else if t.option(&opt, args)? || cond(&opt, args, &mut c)? {
                continue;
            } else if opt.eq_ignore_ascii_case(b"NOMKSTREAM") {
                nomkstream = true;
            } else {
                id = Some(AddId::parse(&opt)?);
                break;
            }
        }
        let trim = t.finish(false)?;
        let rest = args.rest();
        let Some(id) = id.filter(|_| rest.len() >= 2 && rest.len() % 2 == 0) else {
            return Err(wrong_arity("XADD"));
        };
        let fields = rest.chunks_exact(2).map(|p| (p[0].clone(), p[1].clone()));
        let (fields, cond) = (fields.collect(), c);
        Ok(XAdd {
            key,
            nomkstream,
            trim,
            cond,
            id,
            fields,
        })
    }

    /// The new entry's ID, once durable; Null with NOMKSTREAM and no key.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        // Redis refuses 0-0 before it looks the key up (or creates it).
        if self.id == AddId::Explicit(StreamId::MIN) {
            return Err(EngineError::IdZero.into());
        }
        let db = ctx.db();
        let mut expected = match self.cond {
            Some(Cond::Top(id)) => Some(id),
            _ => None,
        };
        let stream = match ctx.engine.stream(db, &self.key)? {
            Some(s) => s,
            None if self.nomkstream => return Ok(Frame::Null.into()),
            // A condition a new stream fails leaves no empty key behind.
            None => match expected.filter(|e| *e != StreamId::MIN) {
                Some(e) => return Err(conflict(e)),
                None => ctx.engine.stream_or_create(db, &self.key)?,
            },
        };
        if self.cond == Some(Cond::Empty) {
            // The top first: an append in between then fails one check.
            let top = stream.last_id();
            if !stream.is_empty() {
                return Err(not_empty(stream.last_id()));
            }
            expected = Some(top);
        }
        let (now, lim) = (ctx.now_ms, ctx.engine.node_limits());
        let (id, commits) = stream.add(self.id, &self.fields, self.trim, expected, now, lim)?;
        ctx.wake(&self.key, &commits);
        ctx.notify(ev::STREAM, "xadd", &self.key);
        Ok(Outcome::Durable(reply::id(id), commits))
    }
}

impl XAdd {
    /// True for a plain XADD (no trim, no condition, no NOMKSTREAM, not
    /// the `0-0` that must not create the key) to `key`: consecutive ones
    /// are appended together by [`run_many`].
    pub fn is_plain_to(&self, key: &[u8]) -> bool {
        self.key == key
            && self.trim.is_none()
            && self.cond.is_none()
            && !self.nomkstream
            && self.id != AddId::Explicit(StreamId::MIN)
    }

    /// The key.
    pub fn key(&self) -> &Bytes {
        &self.key
    }
}

/// A client's consecutive plain XADDs to one key, appended with one write;
/// each gets its own reply, as if they ran one by one.
pub fn run_many(ctx: &mut Ctx, key: &Bytes, adds: &[XAdd]) -> Vec<CmdResult> {
    let db = ctx.db();
    let stream = match ctx.engine.stream_or_create(db, key) {
        Ok(s) => s,
        Err(e) => {
            let text = e.to_string();
            return adds.iter().map(|_| Err(CmdError(text.clone()))).collect();
        }
    };
    let items: Vec<(AddId, &[(Bytes, Bytes)])> =
        adds.iter().map(|a| (a.id, &a.fields[..])).collect();
    let (now, lim) = (ctx.now_ms, ctx.engine.node_limits());
    let mut written = Vec::new();
    let out: Vec<CmdResult> = match stream.add_many(&items, now, lim) {
        Ok((ids, commit)) => {
            written.extend(commit.iter().cloned());
            ids.into_iter()
                .map(|r| match r {
                    Err(e) => Err(e.into()),
                    Ok(id) => Ok(Outcome::Durable(
                        reply::id(id),
                        commit.iter().cloned().collect(),
                    )),
                })
                .collect()
        }
        Err(e) => {
            let text = e.to_string();
            adds.iter().map(|_| Err(CmdError(text.clone()))).collect()
        }
    };
    ctx.wake(key, &written);
    for _ in out.iter().filter(|r| r.is_ok()) {
        ctx.notify(ev::STREAM, "xadd", key);
    }
    out
}

/// IFTOP's error on a missing key.
fn conflict(expected: StreamId) -> CmdError {
    EngineError::Conflict {
        expected,
        actual: StreamId::MIN,
    }
    .into()
}

/// Runs XADD.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XAdd::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::super::xtrim::{NO_STRATEGY, NOT_APPROX};
    use super::*;
    use crate::engine::stream::TrimStrategy;

    fn parse(line: &'static str) -> Result<XAdd, String> {
        let items = line.split(' ').map(Bytes::from).collect();
        XAdd::parse(&mut Args::new(items)).map_err(|e| e.0)
    }

    #[test]
    fn options_then_the_id() {
        let x = parse("XADD s NOMKSTREAM LIMIT 5 MAXLEN ~ 9 IFTOP 3 4-* f v").unwrap();
        let t = x.trim.map(|t| (t.strategy, t.approx, t.limit));
        assert_eq!(t, Some((TrimStrategy::MaxLen(9), true, Some(5))));
        assert_eq!(
            (x.nomkstream, x.cond),
            (true, Some(Cond::Top(StreamId::new(3, 0))))
        );
        assert_eq!(
            (x.id, x.fields),
            (AddId::AutoSeq(4), vec![("f".into(), "v".into())])
        );
        assert_eq!(
            parse("XADD s IFEMPTY * a 1").unwrap().cond,
            Some(Cond::Empty)
        );
        // `*` ends the options at once: an option word after it is a field.
        assert_eq!(parse("XADD s * MAXLEN 1").unwrap().trim, None);
    }

    #[test]
    fn redis_errors_in_redis_order() {
        let arity = "ERR wrong number of arguments for 'xadd' command";
        let invalid = EngineError::InvalidId.to_string();
        for (line, want) in [
            ("XADD s * a", arity),
            ("XADD s 1-1 a 1 b", arity),
            ("XADD s NOMKSTREAM MAXLEN 1", arity),
            ("XADD s LIMIT 5 * a", NO_STRATEGY),
            ("XADD s MAXLEN 5 LIMIT 10 * a 1", NOT_APPROX),
            ("XADD s LIMIT 0 * a 1", NOT_APPROX),
            ("XADD s MAXLEN 1 4-x a", &invalid),
            ("XADD s foo a 1", &invalid),
            ("XADD s IFTOP 1 IFEMPTY * a 1", "ERR syntax error"),
        ] {
            assert_eq!(parse(line).err().as_deref(), Some(want), "{line}");
        }
    }
}
