//! XINFO STREAM key [FULL [COUNT count]] | XINFO GROUPS key |
//! XINFO CONSUMERS key group | XINFO HELP
//!
//! Redis 7.0's fields in its order: maps in RESP3, flat arrays in RESP2.
//! Brook has no radix tree: `radix-tree-nodes` is `radix-tree-keys + 1`,
//! what Redis reports for small streams.

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, parse_i64};
use super::reply::{self, id, map};
use super::table::{unknown_subcommand, wrong_arity};
use crate::engine::groups::{ConsumerInfo, GroupFull, GroupInfo};
use crate::engine::stream::{Stream, StreamInfo};
use crate::error::EngineError;
use crate::resp::frame::Frame;

const HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sub {
    Help,
    Stream,
    Groups,
    Consumers,
}

/// XINFO: introspection of a stream.
#[derive(Debug, PartialEq)]
pub struct XInfo {
    sub: Sub,
    key: Bytes,
    /// CONSUMERS's group.
    group: Bytes,
    /// STREAM: `None` without FULL, else its COUNT (0: every entry); or the
    /// error of its options, reported once the key is found, as Redis does.
    full: Result<Option<usize>, CmdError>,
}

impl XInfo {
    /// # Format
    ///
    /// `XINFO subcommand [args]`, the arity checked per subcommand as Redis
    /// checks `xinfo|stream` and the others.
    pub fn parse(args: &mut Args) -> Result<XInfo, CmdError> {
        let name = args.need()?;
        let rest = args.rest();
        let (sub, full_name, arity_ok) = match &name.to_ascii_uppercase()[..] {
            b"HELP" => (Sub::Help, "XINFO|HELP", rest.is_empty()),
            b"STREAM" => (Sub::Stream, "XINFO|STREAM", !rest.is_empty()),
            b"GROUPS" => (Sub::Groups, "XINFO|GROUPS", rest.len() == 1),
            b"CONSUMERS" => (Sub::Consumers, "XINFO|CONSUMERS", rest.len() == 2),
            _ => return Err(unknown_subcommand("XINFO", &name)),
        };
        if !arity_ok {
            return Err(wrong_arity(full_name));
        }
        let full = match (sub, rest.get(1..).unwrap_or_default()) {
            (Sub::Stream, [f]) if f.eq_ignore_ascii_case(b"FULL") => Ok(Some(10)),
            (Sub::Stream, [f, c, n])
                if f.eq_ignore_ascii_case(b"FULL") && c.eq_ignore_ascii_case(b"COUNT") =>
            {
                // A negative COUNT means the default, 10.
                parse_i64(n)
                    .map(|n| Some(usize::try_from(n).unwrap_or(10)))
                    .ok_or_else(CmdError::not_int)
            }
            (Sub::Stream, [_, ..]) => Err(CmdError(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try XINFO HELP.",
                String::from_utf8_lossy(&name[..name.len().min(128)])
            ))),
            _ => Ok(None),
        };
        let at = |i: usize| rest.get(i).cloned().unwrap_or_default();
        Ok(XInfo {
            sub,
            key: at(0),
            group: at(1),
            full,
        })
    }

    /// The subcommand's reply; `ERR no such key` for a missing key.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        if self.sub == Sub::Help {
            let lines = HELP
                .iter()
                .map(|l| Frame::Simple(Bytes::from_static(l.as_bytes())));
            return Ok(Frame::Array(lines.collect()).into());
        }
        let s = ctx
            .engine
            .stream(ctx.db(), &self.key)?
            .ok_or(EngineError::NoSuchKey)?;
        let frame = match self.sub {
            Sub::Stream => stream(&s, self.full?)?,
            Sub::Groups => Frame::Array(s.groups_info().iter().map(group).collect()),
            _ => {
                let row = |c: ConsumerInfo| {
                    let (name, pending) = (Frame::Bulk(c.name), int(c.pending));
                    map(vec![
                        ("name", name),
                        ("pending", pending),
                        ("idle", int(c.idle_ms)),
                    ])
                };
                let rows = s.consumers_info(&self.key, &self.group, ctx.now_ms)?;
                Frame::Array(rows.into_iter().map(row).collect())
            }
        };
        Ok(frame.into())
    }
}

fn int(n: u64) -> Frame {
    Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn opt_int(n: Option<u64>) -> Frame {
    n.map_or(Frame::Null, int)
}

/// XINFO STREAM, with FULL and its COUNT when `full` is set.
fn stream(s: &Stream, full: Option<usize>) -> Result<Frame, CmdError> {
    let head = |i: &StreamInfo, nodes: u64| {
        vec![
            ("length", int(i.length)),
            ("radix-tree-keys", int(nodes)),
            ("radix-tree-nodes", int(nodes.saturating_add(1))),
            ("last-generated-id", reply::id(i.last_generated_id)),
            ("max-deleted-entry-id", reply::id(i.max_deleted_entry_id)),
            ("entries-added", int(i.entries_added)),
            ("recorded-first-entry-id", id(i.recorded_first_entry_id)),
        ]
    };
    let Some(count) = full else {
        let (info, (first, last)) = (s.info(), s.first_and_last()?);
        let entry = |e: Option<_>| e.as_ref().map_or(Frame::Null, reply::entry);
        let mut m = head(&info, s.node_count()?);
        m.push(("groups", int(info.groups)));
        m.extend([("first-entry", entry(first)), ("last-entry", entry(last))]);
        return Ok(map(m));
    };
    let f = s.info_full((count > 0).then_some(count))?;
    let mut m = head(&f.info, f.nodes);
    let groups = Frame::Array(f.groups.iter().map(group_full).collect());
    m.extend([("entries", reply::entries(&f.entries)), ("groups", groups)]);
    Ok(map(m))
}

/// An XINFO GROUPS row.
fn group(g: &GroupInfo) -> Frame {
    map(vec![
        ("name", Frame::Bulk(g.name.clone())),
        ("consumers", int(g.consumers)),
        ("pending", int(g.pending)),
        ("last-delivered-id", reply::id(g.last_delivered_id)),
        ("entries-read", opt_int(g.entries_read)),
        ("lag", opt_int(g.lag)),
    ])
}

/// A group in XINFO STREAM FULL (Redis 7.0's: no consumer `active-time`).
fn group_full(g: &GroupFull) -> Frame {
    let pel = g.pending.iter().map(|(id, p)| {
        let who = Frame::Bulk(p.consumer.clone());
        Frame::Array(vec![
            reply::id(*id),
            who,
            int(p.delivered_ms),
            int(p.deliveries),
        ])
    });
    let consumers = g.consumers.iter().map(|c| {
        let pel = c
            .pending
            .iter()
            .map(|&(id, ms, n)| Frame::Array(vec![reply::id(id), int(ms), int(n)]));
        map(vec![
            ("name", Frame::Bulk(c.name.clone())),
            ("seen-time", int(c.seen_ms)),
            ("pel-count", int(c.pel_count)),
            ("pending", Frame::Array(pel.collect())),
        ])
    });
    map(vec![
        ("name", Frame::Bulk(g.info.name.clone())),
        ("last-delivered-id", reply::id(g.info.last_delivered_id)),
        ("entries-read", opt_int(g.info.entries_read)),
        ("lag", opt_int(g.info.lag)),
        ("pel-count", int(g.info.pending)),
        ("pending", Frame::Array(pel.collect())),
        ("consumers", Frame::Array(consumers.collect())),
    ])
}

/// Runs XINFO.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XInfo::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<XInfo, String> {
        let items = line
            .split(' ')
            .map(|w| Bytes::from(w.to_string()))
            .collect();
        XInfo::parse(&mut Args::new(items)).map_err(|e| e.0)
    }

    #[test]
    fn subcommands_arity_and_full() {
        let e = |l| parse(l).err().unwrap_or_default();
        assert_eq!(
            e("XINFO foo s"),
            "ERR unknown subcommand 'foo'. Try XINFO HELP."
        );
        let arity = "ERR wrong number of arguments for 'xinfo|consumers' command";
        assert_eq!(e("XINFO consumers s"), arity);
        assert_eq!(parse("XINFO Help").map(|x| x.sub), Ok(Sub::Help));
        let full = |l| parse(l).map(|x| x.full.map_err(|e| e.0));
        assert_eq!(full("XINFO stream s"), Ok(Ok(None)));
        assert_eq!(full("XINFO stream s full"), Ok(Ok(Some(10))));
        assert_eq!(full("XINFO stream s FULL count -1"), Ok(Ok(Some(10))));
        assert_eq!(full("XINFO stream s FULL COUNT 0"), Ok(Ok(Some(0))));
        assert_eq!(
            full("XINFO stream s full count x"),
            Ok(Err(CmdError::not_int().0))
        );
        let syntax =
            "ERR unknown subcommand or wrong number of arguments for 'Stream'. Try XINFO HELP.";
        assert_eq!(full("XINFO Stream s full count"), Ok(Err(syntax.into())));
    }
}
