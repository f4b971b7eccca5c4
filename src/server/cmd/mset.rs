//! MSET key value [key value ...], MSETNX key value [key value ...].

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use crate::engine::keyspace::KeyType;
use crate::engine::memory::Op;
use crate::resp::frame::Frame;
use crate::server::events as ev;

fn pairs(args: &mut Args, cmd: &str) -> Result<Vec<(bytes::Bytes, bytes::Bytes)>, CmdError> {
    let rest = args.rest();
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(CmdError::err(format!(
            "wrong number of arguments for '{cmd}' command"
        )));
    }
    Ok(rest
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect())
}

/// Sets every pair (one journal record: all or none survive a crash).
fn set_all(ctx: &mut Ctx, pairs: Vec<(bytes::Bytes, bytes::Bytes)>, nx: bool) -> CmdResult {
    let (set, commit) = ctx.engine.mem(ctx.db(), |m| {
        let db = m.db();
        for (k, _) in &pairs {
            match m.kind(k)? {
                Some(_) if nx => return Ok(false),
                Some(KeyType::Stream) => {
                    m.delete(k)?;
                }
                _ => {}
            }
        }
        let ops = pairs
            .iter()
            .map(|(k, v)| Op::Set {
                db,
                key: k.clone(),
                value: v.clone(),
                expire_at: 0,
            })
            .collect();
        m.apply(ops)?;
        Ok(true)
    })?;
    if set {
        for (k, _) in &pairs {
            ctx.notify(ev::STRING, "set", k);
        }
    }
    let reply = if nx {
        Frame::Integer(i64::from(set))
    } else {
        Frame::ok()
    };
    Ok(Outcome::after(reply, commit))
}

/// Runs MSET.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let p = pairs(&mut args, "mset")?;
    set_all(ctx, p, false)
}

/// Runs MSETNX: 1 when every key was set, 0 (nothing set) when one existed.
pub fn run_msetnx(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let p = pairs(&mut args, "msetnx")?;
    set_all(ctx, p, true)
}
