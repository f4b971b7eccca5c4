//! OBJECT ENCODING | REFCOUNT | IDLETIME | FREQ | HELP key
use super::args::{Args, CmdError, CmdResult, Ctx, bulk_str};
use super::table::unknown_subcommand;
use crate::resp::frame::Frame;

/// Introspection of a key's value. Streams report Redis's encoding name.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let sub = args.need()?;
    let upper = sub.to_ascii_uppercase();
    if upper == b"HELP" {
        return Ok(Frame::Array(
            [
                "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>",
                "    Return the kind of internal representation used in order to store the value",
                "    associated with a <key>.",
                "FREQ <key>",
                "    Return the access frequency index of the <key>. The returned integer is",
                "    proportional to the logarithm of the recent access frequency of the key.",
                "IDLETIME <key>",
                "    Return the idle time of the <key>, that is the approximated number of",
                "    seconds elapsed since the last access to the key.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key>.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|s| Frame::Simple(bytes::Bytes::from_static(s.as_bytes())))
            .collect(),
        )
        .into());
    }
    if args.left() != 1 {
        return Err(unknown_subcommand("OBJECT", &sub));
    }
    let key = args.need()?;
    let Some(kind) = ctx.engine.key_type(ctx.db(), &key)? else {
        return Ok(Frame::Null.into());
    };
    match &upper[..] {
        b"ENCODING" => Ok(bulk_str(match kind {
            crate::engine::keyspace::KeyType::Stream => "stream",
            // Redis 7.0's names; a string's "int" and "embstr" are not
            // told apart.
            crate::engine::keyspace::KeyType::List => "quicklist",
            crate::engine::keyspace::KeyType::String => "raw",
        })
        .into()),
        b"REFCOUNT" => Ok(Frame::Integer(1).into()),
        b"IDLETIME" => Ok(Frame::Integer(0).into()),
        b"FREQ" => Err(CmdError::err(
            "An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
        )),
        _ => Err(unknown_subcommand("OBJECT", &sub)),
    }
}
