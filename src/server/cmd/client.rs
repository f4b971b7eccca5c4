//! CLIENT SETNAME | GETNAME | ID | LIST | INFO | KILL | SETINFO | REPLY |
//! UNBLOCK | PAUSE | UNPAUSE | NO-EVICT | NO-TOUCH | HELP
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, bulk_str};
use super::table::{unknown_subcommand, wrong_arity};
use crate::resp::frame::Frame;
use crate::server::client::ReplyMode;
use crate::server::shared::lock;

/// When a pause of `ms` milliseconds ends; a pause too long for the clock
/// lasts about a century (Redis takes any i64).
fn pause_until(ms: u64) -> Instant {
    let now = Instant::now();
    now.checked_add(Duration::from_millis(ms))
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
        .unwrap_or(now)
}

/// A client name may not hold spaces or newlines.
pub fn check_name(n: &[u8]) -> Result<(), CmdError> {
    if n.iter().any(|&b| b <= b' ' || b > b'~') {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

fn arity(sub: &str, ok: bool) -> Result<(), CmdError> {
    if ok {
        Ok(())
    } else {
        Err(wrong_arity(&format!("client|{sub}")))
    }
}

/// Dispatches the subcommands.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let sub = args.need()?;
    let n = args.left();
    let info = ctx.client.info.clone();
    match &sub.to_ascii_uppercase()[..] {
        b"SETNAME" => {
            arity("setname", n == 1)?;
            let name = args.need()?;
            check_name(&name)?;
            *lock(&info.name) = name;
            Ok(Frame::ok().into())
        }
        b"GETNAME" => {
            arity("getname", n == 0)?;
            let name = lock(&info.name).clone();
            Ok(if name.is_empty() {
                Frame::Null
            } else {
                Frame::Bulk(name)
            }
            .into())
        }
        b"ID" => {
            arity("id", n == 0)?;
            Ok(Frame::Integer(info.id as i64).into())
        }
        b"INFO" => {
            arity("info", n == 0)?;
            Ok(Frame::Bulk(Bytes::from(format!("{}\n", info.line()))).into())
        }
        b"LIST" => {
            let mut ids = None;
            while args.left() > 0 {
                if args.eat("TYPE") {
                    let t = args.need()?;
                    if !t.eq_ignore_ascii_case(b"normal")
                        && !t.eq_ignore_ascii_case(b"pubsub")
                        && !t.eq_ignore_ascii_case(b"master")
                        && !t.eq_ignore_ascii_case(b"replica")
                    {
                        return Err(CmdError::err(format!(
                            "Unknown client type '{}'",
                            String::from_utf8_lossy(&t)
                        )));
                    }
                } else if args.eat("ID") {
                    let mut v = Vec::new();
                    while args.left() > 0 {
                        let id = args.i64().map_err(|_| CmdError::err("Invalid client ID"))?;
                        v.push(id as u64);
                    }
                    ids = Some(v);
                } else {
                    return Err(CmdError::syntax());
                }
            }
            let clients = lock(&ctx.shared.clients);
            let mut out = String::new();
            for c in clients.values() {
                if ids.as_ref().is_none_or(|v| v.contains(&c.id)) {
                    out.push_str(&c.line());
                    out.push('\n');
                }
            }
            Ok(Frame::Bulk(Bytes::from(out)).into())
        }
        b"KILL" => kill(ctx, args),
        b"SETINFO" => {
            arity("setinfo", n == 2)?;
            let attr = args.need()?;
            let val = args.need()?;
            let mut lib = lock(&info.lib);
            if attr.eq_ignore_ascii_case(b"LIB-NAME") {
                check_name(&val).map_err(|_| {
                    CmdError::err("lib-name cannot contain spaces, newlines or special characters.")
                })?;
                lib.0 = val;
            } else if attr.eq_ignore_ascii_case(b"LIB-VER") {
                check_name(&val).map_err(|_| {
                    CmdError::err("lib-ver cannot contain spaces, newlines or special characters.")
                })?;
                lib.1 = val;
            } else {
                return Err(CmdError::err(format!(
                    "Unrecognized option '{}'",
                    String::from_utf8_lossy(&attr)
                )));
            }
            Ok(Frame::ok().into())
        }
        b"REPLY" => {
            arity("reply", n == 1)?;
            let mode = args.need()?.to_ascii_uppercase();
            match &mode[..] {
                b"ON" => ctx.client.reply = ReplyMode::On,
                b"OFF" => {
                    ctx.client.reply = ReplyMode::Off;
                    ctx.client.suppress_reply = true;
                }
                b"SKIP" => {
                    ctx.client.reply = ReplyMode::Skip;
                    ctx.client.suppress_reply = true;
                }
                _ => return Err(CmdError::syntax()),
            }
            Ok(Frame::ok().into())
        }
        b"UNBLOCK" => {
            arity("unblock", n == 1 || n == 2)?;
            let id = args
                .i64()
                .map_err(|_| CmdError::err("value is not an integer or out of range"))?;
            let error = if args.eat("ERROR") {
                true
            } else if args.left() == 0 || args.eat("TIMEOUT") {
                false
            } else {
                return Err(CmdError::err(
                    "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
                ));
            };
            let target = lock(&ctx.shared.clients).get(&(id as u64)).cloned();
            match target {
                Some(t) if t.blocked.load(Ordering::Relaxed) => {
                    *lock(&t.unblock) = Some(error);
                    t.unblocked.notify_one();
                    Ok(Frame::Integer(1).into())
                }
                _ => Ok(Frame::Integer(0).into()),
            }
        }
        b"PAUSE" => {
            arity("pause", n == 1 || n == 2)?;
            let ms = args
                .i64()
                .map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::err("timeout is negative"));
            }
            let writes_only = if args.eat("WRITE") {
                true
            } else if args.left() == 0 || args.eat("ALL") {
                false
            } else {
                return Err(CmdError::syntax());
            };
            let mut pause = lock(&ctx.shared.pause);
            *pause = Some((pause_until(ms as u64), writes_only));
            ctx.shared.paused.store(true, Ordering::Release);
            drop(pause);
            Ok(Frame::ok().into())
        }
        b"UNPAUSE" => {
            arity("unpause", n == 0)?;
            let mut pause = lock(&ctx.shared.pause);
            *pause = None;
            ctx.shared.paused.store(false, Ordering::Release);
            drop(pause);
            ctx.shared.unpause.notify_waiters();
            Ok(Frame::ok().into())
        }
        b"NO-EVICT" | b"NO-TOUCH" => {
            let v = args.need()?;
            if !v.eq_ignore_ascii_case(b"on") && !v.eq_ignore_ascii_case(b"off") {
                return Err(CmdError::syntax());
            }
            Ok(Frame::ok().into())
        }
        b"HELP" => Ok(Frame::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GETNAME",
                "ID",
                "INFO",
                "KILL <ip:port> | <option> <value> [...]",
                "LIST [TYPE <type>] [ID <id> ...]",
                "UNPAUSE",
                "PAUSE <timeout> [WRITE|ALL]",
                "REPLY (ON|OFF|SKIP)",
                "SETINFO <option> <value>",
                "SETNAME <name>",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "HELP",
            ]
            .iter()
            .map(|s| bulk_str(s))
            .collect(),
        )
        .into()),
        _ => Err(unknown_subcommand("CLIENT", &sub)),
    }
}

/// CLIENT KILL ip:port, or KILL [ID id] [ADDR ip:port] [LADDR ip:port]
/// [SKIPME yes|no] [USER name] [TYPE type].
fn kill(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let me = ctx.client.info.id;
    if args.left() == 1 {
        let addr = args.need()?;
        let target = lock(&ctx.shared.clients)
            .values()
            .find(|c| c.addr.to_string().as_bytes() == &addr[..])
            .cloned();
        return match target {
            Some(t) => {
                t.kill();
                Ok(Frame::ok().into())
            }
            None => Err(CmdError::err("No such client")),
        };
    }
    let (mut id, mut addr, mut laddr, mut skipme) = (None, None, None, true);
    while args.left() > 0 {
        let opt = args.need()?.to_ascii_uppercase();
        let val = args.need()?;
        match &opt[..] {
            b"ID" => {
                id = Some(
                    super::args::parse_i64(&val)
                        .ok_or_else(|| CmdError::err("client-id should be greater than 0"))?
                        as u64,
                )
            }
            b"ADDR" => addr = Some(val),
            b"LADDR" => laddr = Some(val),
            b"SKIPME" if val.eq_ignore_ascii_case(b"yes") => skipme = true,
            b"SKIPME" if val.eq_ignore_ascii_case(b"no") => skipme = false,
            b"USER" | b"TYPE" | b"MAXAGE" => {}
            _ => return Err(CmdError::syntax()),
        }
    }
    let victims: Vec<_> = lock(&ctx.shared.clients)
        .values()
        .filter(|c| id.is_none_or(|i| c.id == i))
        .filter(|c| {
            addr.as_ref()
                .is_none_or(|a| c.addr.to_string().as_bytes() == &a[..])
        })
        .filter(|c| {
            laddr
                .as_ref()
                .is_none_or(|a| c.laddr.to_string().as_bytes() == &a[..])
        })
        .filter(|c| !(skipme && c.id == me))
        .cloned()
        .collect();
    for v in &victims {
        v.kill();
    }
    Ok(Frame::Integer(victims.len() as i64).into())
}
