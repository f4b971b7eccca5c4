//! COMMAND, COMMAND COUNT | INFO [name ...] | DOCS [name ...] | LIST | HELP
use super::args::{Args, CmdResult, Ctx, bulk_str};
use super::reply::map;
use super::table::{
    ADMIN, BLOCKING, COMMANDS, Command, FAST, LOADING, NO_AUTH, NO_MULTI, READONLY, WRITE, lookup,
    unknown_subcommand,
};
use crate::resp::frame::Frame;

fn flags(c: &Command) -> Frame {
    let mut f = Vec::new();
    let names = [
        (WRITE, "write"),
        (READONLY, "readonly"),
        (ADMIN, "admin"),
        (BLOCKING, "blocking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (LOADING, "loading"),
    ];
    for (bit, name) in names {
        if c.flags & bit != 0 {
            f.push(Frame::Simple(bytes::Bytes::from_static(name.as_bytes())));
        }
    }
    Frame::Set(f)
}

/// COMMAND INFO's row: name, arity, flags, first key, last key, step, ACL
/// categories, tips, key specs, subcommands.
fn info(c: &Command) -> Frame {
    let cat = format!("@{}", c.group);
    Frame::Array(vec![
        bulk_str(&c.name.to_ascii_lowercase()),
        Frame::Integer(c.arity.into()),
        flags(c),
        Frame::Integer(c.keys.0.into()),
        Frame::Integer(c.keys.1.into()),
        Frame::Integer(c.keys.2.into()),
        Frame::Set(vec![Frame::Simple(bytes::Bytes::from(cat))]),
        Frame::Set(Vec::new()),
        Frame::Array(Vec::new()),
        Frame::Array(Vec::new()),
    ])
}

/// COMMAND DOCS's entry for one command.
fn docs(c: &Command) -> Frame {
    map(vec![
        ("summary", bulk_str(c.summary)),
        ("since", bulk_str(c.since)),
        ("group", bulk_str(c.group)),
    ])
}

/// Introspection of the command table.
pub fn run(_ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let Some(sub) = args.next() else {
        return Ok(Frame::Array(COMMANDS.iter().map(info).collect()).into());
    };
    let names = args.rest();
    match &sub.to_ascii_uppercase()[..] {
        b"COUNT" => Ok(Frame::Integer(COMMANDS.len() as i64).into()),
        b"LIST" => Ok(Frame::Array(
            COMMANDS
                .iter()
                .map(|c| bulk_str(&c.name.to_ascii_lowercase()))
                .collect(),
        )
        .into()),
        b"INFO" if names.is_empty() => Ok(Frame::Array(COMMANDS.iter().map(info).collect()).into()),
        b"INFO" => Ok(Frame::Array(
            names
                .iter()
                .map(|n| lookup(n).map_or(Frame::NullArray, |i| info(&COMMANDS[i])))
                .collect(),
        )
        .into()),
        b"DOCS" => {
            let pick: Vec<&Command> = if names.is_empty() {
                COMMANDS.iter().collect()
            } else {
                names
                    .iter()
                    .filter_map(|n| lookup(n))
                    .map(|i| &COMMANDS[i])
                    .collect()
            };
            Ok(Frame::Map(
                pick.into_iter()
                    .map(|c| (bulk_str(&c.name.to_ascii_lowercase()), docs(c)))
                    .collect(),
            )
            .into())
        }
        b"HELP" => Ok(Frame::Array(
            [
                "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "(no subcommand)",
                "COUNT",
                "DOCS [<command-name> ...]",
                "INFO [<command-name> ...]",
                "LIST",
                "HELP",
            ]
            .iter()
            .map(|s| bulk_str(s))
            .collect(),
        )
        .into()),
        _ => Err(unknown_subcommand("COMMAND", &sub)),
    }
}
