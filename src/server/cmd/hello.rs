//! HELLO [protover [AUTH username password] [SETNAME clientname]]
use std::sync::atomic::Ordering;

use super::args::{Args, CmdError, CmdResult, Ctx, bulk_str};
use super::info::REDIS_VERSION;
use super::reply::map;
use crate::resp::frame::{Frame, Protocol};
use crate::server::shared::lock;

/// Switches the protocol, optionally authenticates and names the client,
/// and describes the server.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let mut proto = None;
    if let Some(v) = args.next() {
        let n = super::args::parse_i64(&v).ok_or_else(|| {
            CmdError("ERR Protocol version is not an integer or out of range".into())
        })?;
        if !(2..=3).contains(&n) {
            return Err(CmdError("NOPROTO unsupported protocol version".into()));
        }
        proto = Some(if n == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        });
    }
    let mut name = None;
    let mut auth = None;
    while let Some(opt) = args.next() {
        if opt.eq_ignore_ascii_case(b"AUTH") && args.left() >= 2 {
            let user = args.need()?;
            let pass = args.need()?;
            auth = Some((user, pass));
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && args.left() >= 1 {
            name = Some(args.need()?);
        } else {
            return Err(CmdError(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&opt)
            )));
        }
    }
    if let Some((user, pass)) = auth {
        super::auth::check(ctx, Some(&user), &pass)?;
    }
    if !ctx.client.authenticated {
        return Err(CmdError("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into()));
    }
    if let Some(n) = name {
        super::client::check_name(&n)?;
        *lock(&ctx.client.info.name) = n;
    }
    if let Some(p) = proto {
        ctx.client.protocol = p;
        ctx.client
            .info
            .resp
            .store(if p == Protocol::Resp3 { 3 } else { 2 }, Ordering::Relaxed);
    }
    let proto_n = if ctx.resp3() { 3 } else { 2 };
    Ok(map(vec![
        ("server", bulk_str("redis")),
        ("version", bulk_str(REDIS_VERSION)),
        ("proto", Frame::Integer(proto_n)),
        ("id", Frame::Integer(ctx.client.info.id as i64)),
        ("mode", bulk_str("standalone")),
        ("role", bulk_str("master")),
        ("modules", Frame::Array(Vec::new())),
    ])
    .into())
}
