//! EVAL, EVALSHA, FCALL, SCRIPT, FUNCTION: scripting is not supported, and
//! the answers say so truthfully: nothing is loaded, flushing is a no-op.
use super::args::{Args, CmdError, CmdResult, Ctx};
use super::table::unknown_subcommand;
use crate::resp::frame::Frame;

/// EVAL / EVALSHA / FCALL: an error.
pub fn run_eval(_ctx: &mut Ctx, _args: Args) -> CmdResult {
    Err(CmdError::err(
        "scripting is not supported by Brook (EVAL, EVALSHA and FCALL are unavailable)",
    ))
}

/// SCRIPT EXISTS (all 0), FLUSH (OK), LOAD (error).
pub fn run_script(_ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let sub = args.need()?;
    match &sub.to_ascii_uppercase()[..] {
        b"EXISTS" if args.left() > 0 => {
            Ok(Frame::Array(args.rest().iter().map(|_| Frame::Integer(0)).collect()).into())
        }
        b"FLUSH" => Ok(Frame::ok().into()),
        b"LOAD" | b"KILL" | b"DEBUG" => run_eval(_ctx, args),
        _ => Err(unknown_subcommand("SCRIPT", &sub)),
    }
}

/// FUNCTION LIST (empty), FLUSH (OK), others an error.
pub fn run_function(_ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let sub = args.need()?;
    match &sub.to_ascii_uppercase()[..] {
        b"LIST" => Ok(Frame::Array(Vec::new()).into()),
        b"FLUSH" => Ok(Frame::ok().into()),
        b"LOAD" | b"DELETE" | b"DUMP" | b"RESTORE" | b"KILL" | b"STATS" => run_eval(_ctx, args),
        _ => Err(unknown_subcommand("FUNCTION", &sub)),
    }
}
