//! XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]
//! XGROUP SETID key group id|$ [ENTRIESREAD entries-read]
//! XGROUP DESTROY key group
//! XGROUP CREATECONSUMER key group consumer
//! XGROUP DELCONSUMER key group consumer
//! XGROUP HELP
//!
//! Also holds the key-and-group check the other group commands share.
use crate::server::events as ev;
use std::sync::Arc;

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, simple};
use super::table::{unknown_subcommand, wrong_arity};
use crate::engine::groups::GroupStart;
use crate::engine::id::StreamId;
use crate::engine::stream::Stream;
use crate::error::{EngineError, NoGroupForm};
use crate::resp::frame::Frame;

/// The subcommands, with Redis 7's arities (the command name counts).
const SUBCOMMANDS: &[(&str, i32)] = &[
    ("CREATE", -5),
    ("SETID", -5),
    ("DESTROY", 4),
    ("CREATECONSUMER", 5),
    ("DELCONSUMER", 5),
    ("HELP", 2),
];

const HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

/// What XGROUP does.
enum Op {
    /// CREATE or SETID; `start` also carries the errors Redis reports
    /// after the key checks (a wrong argument count, a bad ID).
    Start {
        create: bool,
        mkstream: bool,
        start: Result<GroupStart, CmdError>,
        read: Option<u64>,
    },
    Destroy,
    /// CREATECONSUMER (`true`) or DELCONSUMER.
    Consumer(bool, Bytes),
    Help,
}

/// XGROUP.
pub struct XGroup {
    key: Bytes,
    group: Bytes,
    op: Op,
}

impl XGroup {
    /// # Format
    ///
    /// A subcommand and its arguments (see the module doc). Errors come in
    /// Redis's order: unknown subcommand, arity, options; then, in `apply`,
    /// the key and group, the argument count, the ID.
    pub fn parse(args: &mut Args) -> Result<XGroup, CmdError> {
        let (sub, argc) = (args.need()?, args.argv().len());
        let found = SUBCOMMANDS
            .iter()
            .find(|(n, _)| sub.eq_ignore_ascii_case(n.as_bytes()));
        let Some(&(name, arity)) = found else {
            return Err(unknown_subcommand("XGROUP", &sub));
        };
        if (arity >= 0 && argc != arity as usize) || argc < arity.unsigned_abs() as usize {
            return Err(wrong_arity(&format!("xgroup|{name}")));
        }
        let (key, group) = match name {
            "HELP" => (Bytes::new(), Bytes::new()),
            _ => (args.need()?, args.need()?),
        };
        let op = match name {
            "CREATE" | "SETID" => {
                let (create, id) = (name == "CREATE", args.need()?);
                let (mut mkstream, mut read) = (false, None);
                while args.left() > 0 {
                    if create && args.eat("MKSTREAM") {
                        mkstream = true;
                    } else if args.left() >= 2 && args.eat("ENTRIESREAD") {
                        let n = args.i64()?;
                        if n < -1 {
                            return Err(CmdError::err(
                                "value for ENTRIESREAD must be positive or -1",
                            ));
                        }
                        read = u64::try_from(n).ok();
                    } else {
                        return Err(sub_syntax(&sub));
                    }
                }
                let counted = if create {
                    (5..=8).contains(&argc)
                } else {
                    argc == 5 || argc == 7
                };
                let start = match id.as_ref() {
                    _ if !counted => Err(sub_syntax(&sub)),
                    b"$" => Ok(GroupStart::Last),
                    // SETID takes `-` and `+` too, as Redis 7.0 does.
                    b"-" if !create => Ok(GroupStart::Id(StreamId::MIN)),
                    b"+" if !create => Ok(GroupStart::Id(StreamId::MAX)),
                    _ => StreamId::parse(&id, 0)
                        .map(GroupStart::Id)
                        .ok_or_else(|| EngineError::InvalidId.into()),
                };
                Op::Start {
                    create,
                    mkstream,
                    start,
                    read,
                }
            }
            "DESTROY" => Op::Destroy,
            "CREATECONSUMER" => Op::Consumer(true, args.need()?),
            "DELCONSUMER" => Op::Consumer(false, args.need()?),
            _ => Op::Help,
        };
        Ok(XGroup { key, group, op })
    }

    /// Runs the subcommand.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let (db, key, group) = (ctx.db(), &self.key, &self.group);
        if let Op::Help = self.op {
            return Ok(Frame::Array(HELP.iter().copied().map(simple).collect()).into());
        }
        let found = ctx.engine.stream(db, key)?;
        if found.is_none() && !matches!(self.op, Op::Start { mkstream: true, .. }) {
            return Err(EngineError::XGroupNoKey.into());
        }
        let needs_group = matches!(self.op, Op::Start { create: false, .. } | Op::Consumer(..));
        if needs_group && !found.as_ref().is_some_and(|s| s.has_group(group)) {
            return Err(no_group(key, group, NoGroupForm::ForKey));
        }
        let (frame, commits) = match (self.op, found) {
            (
                Op::Start {
                    create,
                    start: at,
                    read,
                    ..
                },
                found,
            ) => {
                let at = at?;
                let s = match found {
                    Some(s) => s,
                    None => {
                        let s = ctx.engine.stream_or_create(db, key)?;
                        ctx.shared.watched.touch(db, key);
                        s
                    }
                };
                let commits = match create {
                    true => s.create_group(group, at, read)?,
                    false => s.set_group_id(key, group, at, read)?,
                };
                let event = if create {
                    "xgroup-create"
                } else {
                    "xgroup-setid"
                };
                ctx.notify(ev::STREAM, event, key);
                (Frame::ok(), commits)
            }
            (Op::Destroy, Some(s)) => {
                let (gone, commits) = s.destroy_group(group)?;
                if gone {
                    // Readers blocked on the group get their NOGROUP error.
                    ctx.wake(key, &commits);
                    ctx.notify(ev::STREAM, "xgroup-destroy", key);
                }
                (Frame::Integer(i64::from(gone)), commits)
            }
            (Op::Consumer(true, c), Some(s)) => {
                let (made, commits) = s.create_consumer(key, group, &c, ctx.now_ms)?;
                if made {
                    ctx.notify(ev::STREAM, "xgroup-createconsumer", key);
                }
                (Frame::Integer(i64::from(made)), commits)
            }
            (Op::Consumer(false, c), Some(s)) => {
                let (n, commits) = s.delete_consumer(key, group, &c)?;
                ctx.notify(ev::STREAM, "xgroup-delconsumer", key);
                (
                    Frame::Integer(i64::try_from(n).unwrap_or(i64::MAX)),
                    commits,
                )
            }
            _ => return Err(EngineError::XGroupNoKey.into()),
        };
        Ok(Outcome::Durable(frame, commits))
    }
}

/// Redis's NOGROUP error for `key` and `group`, in the wording `form`.
pub(super) fn no_group(key: &[u8], group: &[u8], form: NoGroupForm) -> CmdError {
    EngineError::no_group(key, group, form).into()
}

/// The stream at `key` when it has `group`; otherwise WRONGTYPE, or
/// NOGROUP in the wording `form`.
pub(super) fn group_stream(
    ctx: &Ctx,
    key: &[u8],
    group: &[u8],
    form: NoGroupForm,
) -> Result<Arc<Stream>, CmdError> {
    let s = ctx.engine.stream(ctx.db(), key)?;
    s.filter(|s| s.has_group(group))
        .ok_or_else(|| no_group(key, group, form))
}

/// Redis's error for bad arguments to a known subcommand.
fn sub_syntax(sub: &[u8]) -> CmdError {
    let sub: String = String::from_utf8_lossy(sub).chars().take(128).collect();
    CmdError::err(format_args!(
        "unknown subcommand or wrong number of arguments for '{sub}'. Try XGROUP HELP."
    ))
}

/// Runs XGROUP.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    XGroup::parse(&mut args)?.apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::super::xread::test_args;
    use super::*;

    fn parse(line: &str) -> Result<Op, CmdError> {
        XGroup::parse(&mut test_args(&format!("XGROUP {line}"))).map(|g| g.op)
    }

    fn start(line: &str) -> Result<GroupStart, CmdError> {
        match parse(line) {
            Ok(Op::Start { start, .. }) => start,
            _ => Err(CmdError::syntax()),
        }
    }

    #[test]
    fn create_and_setid() {
        let op = parse("create k g $ MKSTREAM ENTRIESREAD 3 ENTRIESREAD -1");
        assert!(matches!(
            op,
            Ok(Op::Start {
                create: true,
                mkstream: true,
                read: None,
                ..
            })
        ));
        assert!(matches!(
            parse("SETID k g 0 ENTRIESREAD 3"),
            Ok(Op::Start { read: Some(3), .. })
        ));
        assert_eq!(start("create k g $"), Ok(GroupStart::Last));
        assert_eq!(
            start("CREATE k g 5"),
            Ok(GroupStart::Id(StreamId::new(5, 0)))
        );
        assert_eq!(start("SETID k g +"), Ok(GroupStart::Id(StreamId::MAX)));
        assert!(start("CREATE k g +").is_err());
        // Too many arguments: reported after the key checks.
        let many = start("CREATE k g 0 MKSTREAM MKSTREAM MKSTREAM MKSTREAM");
        assert_eq!(many, Err(sub_syntax(b"CREATE")));
        assert!(start("SETID k g 0 ENTRIESREAD 1 ENTRIESREAD 2").is_err());
        assert!(matches!(parse("HELP"), Ok(Op::Help)));
    }

    #[test]
    fn errors() {
        let wrong = |sub: &str| format!("ERR wrong number of arguments for 'xgroup|{sub}' command");
        let unknown = "ERR unknown subcommand 'foo'. Try XGROUP HELP.";
        let negative = "ERR value for ENTRIESREAD must be positive or -1";
        for (line, want) in [
            ("foo a b c", unknown.to_string()),
            ("CREATE k g", wrong("create")),
            ("help x", wrong("help")),
            ("destroy k g x", wrong("destroy")),
            ("create k g 0 ENTRIESREAD", sub_syntax(b"create").0),
            ("SETID k g 0 MKSTREAM", sub_syntax(b"SETID").0),
            ("CREATE k g 0 ENTRIESREAD -2", negative.to_string()),
            ("CREATE k g 0 ENTRIESREAD x", CmdError::not_int().0),
        ] {
            assert_eq!(parse(line).err().map(|e| e.0), Some(want), "{line}");
        }
        let text = "unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP.";
        assert_eq!(sub_syntax(b"create").0, format!("ERR {text}"));
    }
}
