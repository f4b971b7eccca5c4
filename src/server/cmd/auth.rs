//! AUTH [username] password
use super::args::{Args, CmdError, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// Checks a password against `requirepass` (the only user is `default`).
pub fn check(ctx: &mut Ctx, user: Option<&[u8]>, pass: &[u8]) -> Result<(), CmdError> {
    let want = ctx
        .shared
        .config()
        .get("requirepass")
        .unwrap_or_default()
        .to_string();
    if user.is_none() && want.is_empty() {
        return Err(CmdError(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into(),
        ));
    }
    let user_ok = user.is_none_or(|u| u == b"default");
    if user_ok && (want.is_empty() || pass == want.as_bytes()) {
        ctx.client.authenticated = true;
        Ok(())
    } else {
        Err(CmdError(
            "WRONGPASS invalid username-password pair or user is disabled.".into(),
        ))
    }
}

/// Authenticates the connection.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let a = args.need()?;
    match args.next() {
        None => check(ctx, None, &a)?,
        Some(p) => {
            args.end().map_err(|_| super::table::wrong_arity("auth"))?;
            check(ctx, Some(&a), &p)?
        }
    }
    Ok(Frame::ok().into())
}
