//! SHUTDOWN [NOSAVE | SAVE] [NOW] [FORCE] [ABORT]
use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};

/// Stops the server: connections finish, every log is synced, the
/// process exits 0. NOSAVE and SAVE are accepted: every acknowledged write
/// is already in the logs.
pub fn run(_ctx: &mut Ctx, args: Args) -> CmdResult {
    for a in args {
        let a = a.to_ascii_uppercase();
        match &a[..] {
            b"NOSAVE" | b"SAVE" | b"NOW" | b"FORCE" => {}
            b"ABORT" => return Err(CmdError::err("No shutdown in progress.")),
            _ => return Err(CmdError::syntax()),
        }
    }
    Ok(Outcome::Shutdown)
}
