//! XMADD key [IFTOP id | IFEMPTY] nfields field value [field value ...]
//! [key [IFTOP id | IFEMPTY] nfields field value [field value ...] ...]
//!
//! Brook's atomic append to several streams of the database: one entry per
//! group, auto IDs only, all written or none, also across a crash. IFTOP
//! and IFEMPTY are XADD's conditions; one that fails writes nothing. A key
//! may appear twice: its second entry follows the first (so a condition on
//! it sees the first entry).

use crate::server::events as ev;
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx};
use super::reply;
use super::table::wrong_arity;
use super::xadd::{Cond, cond, not_empty};
use crate::engine::id::StreamId;
use crate::engine::txn::Append;
use crate::resp::frame::Frame;

/// One entry of an XMADD.
#[derive(Debug, PartialEq)]
struct Item {
    key: Bytes,
    cond: Option<Cond>,
    fields: Vec<(Bytes, Bytes)>,
}

/// XMADD: appends one entry to each of several streams, all or none.
#[derive(Debug, PartialEq)]
pub struct XMAdd {
    items: Vec<Item>,
}

impl XMAdd {
    /// # Format
    ///
    /// `XMADD` then, once or more, `key [IFTOP id | IFEMPTY] nfields` and
    /// `nfields` field/value pairs. Everything is read before anything is
    /// written.
    pub fn parse(args: &mut Args) -> Result<XMAdd, CmdError> {
        let mut items = Vec::new();
        while args.left() > 0 {
            let key = args.need()?;
            let mut c = None;
            if let Some(opt) = args.peek().cloned() {
                if opt.eq_ignore_ascii_case(b"IFTOP") || opt.eq_ignore_ascii_case(b"IFEMPTY") {
                    args.next();
                    cond(&opt, args, &mut c)?;
                }
            }
            let n = args.i64()?;
            if n < 1 {
                return Err(CmdError::err("The number of fields must be >= 1."));
            }
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            if args.left() / 2 < n {
                return Err(wrong_arity("XMADD"));
            }
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push((args.need()?, args.need()?));
            }
            items.push(Item {
                key,
                cond: c,
                fields,
            });
        }
        Ok(XMAdd { items })
    }

    /// The new IDs, in the order given, once every entry is durable.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let db = ctx.db();
        let mut appends = Vec::with_capacity(self.items.len());
        for it in &self.items {
            let expected = match it.cond {
                None => None,
                Some(Cond::Top(id)) => Some(id),
                Some(Cond::Empty) => match ctx.engine.stream(db, &it.key)? {
                    None => Some(StreamId::MIN),
                    Some(s) => {
                        // The top first: an append in between then fails
                        // one check.
                        let top = s.last_id();
                        if !s.is_empty() {
                            return Err(not_empty(s.last_id()));
                        }
                        Some(top)
                    }
                },
            };
            let (key, fields) = (&it.key[..], &it.fields[..]);
            appends.push(Append {
                key,
                fields,
                expected,
            });
        }
        // produce_all waits for its redo record's fdatasync: the other
        // clients move to another thread meanwhile.
        let engine = ctx.engine;
        let ids = crate::server::shared::blocking(|| engine.produce_all(db, &appends))?;
        for it in &self.items {
            // Not in the table's key positions: WATCH is told here.
            ctx.shared.watched.touch(db, &it.key);
            ctx.wake(&it.key, &[]);
            ctx.notify(ev::STREAM, "xadd", &it.key);
        }
        Ok(Frame::Array(ids.into_iter().map(reply::id).collect()).into())
    }
}

/// Runs XMADD.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XMAdd::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &'static str) -> Result<XMAdd, String> {
        let items = line.split(' ').map(Bytes::from).collect();
        XMAdd::parse(&mut Args::new(items)).map_err(|e| e.0)
    }

    #[test]
    fn groups_of_key_condition_and_fields() {
        let x = parse("XMADD a 1 f v b IFTOP 5-1 2 f v g w a ifempty 1 x y").unwrap();
        let keys: Vec<_> = x
            .items
            .iter()
            .map(|i| (&i.key[..], i.cond, i.fields.len()))
            .collect();
        let top = Some(Cond::Top(StreamId::new(5, 1)));
        let want: [(&[u8], _, _); 3] = [
            (b"a", None, 1),
            (b"b", top, 2),
            (b"a", Some(Cond::Empty), 1),
        ];
        assert_eq!(keys, want);
    }

    #[test]
    fn errors() {
        let e = |l| parse(l).err().unwrap_or_default();
        let arity = "ERR wrong number of arguments for 'xmadd' command";
        assert_eq!(e("XMADD a 2 f v g"), arity);
        assert_eq!(e("XMADD a 1 f v b 1 f"), arity);
        assert_eq!(e("XMADD a 0 f v"), "ERR The number of fields must be >= 1.");
        assert_eq!(e("XMADD a f v"), CmdError::not_int().0);
        assert_eq!(
            e("XMADD a IFTOP x 1 f v"),
            crate::EngineError::InvalidId.to_string()
        );
        assert_eq!(e("XMADD a 1 f v b"), "ERR syntax error");
    }
}
