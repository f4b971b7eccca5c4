//! APPEND key value, STRLEN key, GETRANGE key start end,
//! SETRANGE key offset value.

use crate::server::events as ev;
use bytes::{Bytes, BytesMut};

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use super::set::rewrite;
use crate::resp::frame::Frame;

/// The largest string SETRANGE and APPEND make (proto-max-bulk-len).
const MAX_STRING: usize = 512 << 20;

fn too_big() -> CmdError {
    CmdError::err("string exceeds maximum allowed size (proto-max-bulk-len)")
}

/// Rewrites the string at `key` (see [`rewrite`]); the reply is its
/// length after.
fn replace(
    ctx: &mut Ctx,
    key: &Bytes,
    event: &str,
    f: impl FnOnce(Option<Bytes>) -> Result<Option<Bytes>, CmdError>,
) -> CmdResult {
    let (after, commit) = rewrite(ctx, key, f)?;
    if commit.is_some() {
        ctx.notify(ev::STRING, event, key);
    }
    let len = after.map_or(0, |b| b.len());
    Ok(Outcome::after(Frame::Integer(len as i64), commit))
}

/// Runs APPEND: the new length.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let value = args.need()?;
    args.end()?;
    replace(ctx, &key, "append", |old| {
        let old = old.unwrap_or_default();
        if old.len() + value.len() > MAX_STRING {
            return Err(too_big());
        }
        let mut b = BytesMut::with_capacity(old.len() + value.len());
        b.extend_from_slice(&old);
        b.extend_from_slice(&value);
        Ok(Some(b.freeze()))
    })
}

/// Runs STRLEN.
pub fn run_strlen(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    args.end()?;
    let (v, _) = ctx.engine.mem(ctx.db(), |m| m.string(&key))?;
    Ok(Frame::Integer(v.map_or(0, |b| b.len() as i64)).into())
}

/// Runs GETRANGE: the bytes from `start` to `end` inclusive, negative
/// offsets counting from the end.
pub fn run_getrange(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let start = args.i64()?;
    let end = args.i64()?;
    args.end()?;
    let (v, _) = ctx.engine.mem(ctx.db(), |m| m.string(&key))?;
    let v = v.unwrap_or_default();
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Ok(Frame::Bulk(Bytes::new()).into());
    }
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i };
    let (s, e) = (norm(start), norm(end).min(len - 1));
    if len == 0 || s > e {
        return Ok(Frame::Bulk(Bytes::new()).into());
    }
    Ok(Frame::Bulk(v.slice(s as usize..=e as usize)).into())
}

/// Runs SETRANGE: overwrites from `offset`, padding with zero bytes; the
/// new length.
pub fn run_setrange(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let offset = args.i64()?;
    let value = args.need()?;
    args.end()?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let offset = offset as usize;
    replace(ctx, &key, "setrange", |old| {
        if value.is_empty() {
            // Nothing to write: the key is not created.
            return Ok(None);
        }
        let end = offset
            .checked_add(value.len())
            .filter(|&e| e <= MAX_STRING)
            .ok_or_else(too_big)?;
        let old = old.unwrap_or_default();
        let mut b = BytesMut::from(&old[..]);
        if b.len() < end {
            b.resize(end, 0);
        }
        b[offset..end].copy_from_slice(&value);
        Ok(Some(b.freeze()))
    })
}
