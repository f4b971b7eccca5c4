//! SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL],
//! and its older forms SETNX, SETEX, PSETEX and GETSET.

use crate::server::events as ev;
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome, parse_i64};
use crate::engine::keyspace::KeyType;
use crate::engine::memory::Op;
use crate::resp::frame::Frame;

/// When the key expires, as an option gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No option: the key loses any expiry time.
    None,
    /// KEEPTTL (SET) or absent (GETEX): unchanged.
    Keep,
    /// PERSIST (GETEX).
    Persist,
    /// At this Unix time in milliseconds.
    At(u64),
}

/// Reads the amount after EX, PX, EXAT or PXAT into a Unix ms time, with
/// Redis's checks: `ERR invalid expire time in '<cmd>' command`.
pub fn expire_time(
    raw: &[u8],
    seconds: bool,
    absolute: bool,
    now_ms: u64,
    cmd: &str,
) -> Result<u64, CmdError> {
    let n = parse_i64(raw).ok_or_else(CmdError::not_int)?;
    let invalid = || CmdError::err(format!("invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let ms = if seconds {
        n.checked_mul(1000).ok_or_else(invalid)?
    } else {
        n
    };
    if absolute {
        return Ok(ms as u64);
    }
    (ms as u64)
        .checked_add(now_ms)
        .filter(|t| *t <= i64::MAX as u64)
        .ok_or_else(invalid)
}

/// Replaces the string at `key` with what `f` makes of the old value,
/// keeping the key's expiry time (INCR, APPEND, SETRANGE ...). `f`
/// returning `None` changes nothing. Returns the value after, and the
/// commit to wait for.
pub fn rewrite(
    ctx: &mut Ctx,
    key: &Bytes,
    f: impl FnOnce(Option<Bytes>) -> Result<Option<Bytes>, CmdError>,
) -> Result<(Option<Bytes>, Option<crate::storage::Commit>), CmdError> {
    let mut failed = None;
    let r = ctx.engine.mem(ctx.db(), |m| {
        let old = m.string(key)?;
        let new = match f(old.clone()) {
            Ok(Some(n)) => n,
            Ok(None) => return Ok(old),
            Err(e) => {
                failed = Some(e);
                return Ok(None);
            }
        };
        let (db, expire_at) = (m.db(), m.expire_at(key)?);
        m.apply(vec![Op::Set {
            db,
            key: key.clone(),
            value: new.clone(),
            expire_at,
        }])?;
        Ok(Some(new))
    })?;
    match failed {
        Some(e) => Err(e),
        None => Ok(r),
    }
}

/// SET's options.
#[derive(Debug, PartialEq)]
pub struct Set {
    key: Bytes,
    value: Bytes,
    nx: bool,
    xx: bool,
    get: bool,
    expiry: Expiry,
}

impl Set {
    /// # Format
    ///
    /// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]`
    pub fn parse(args: &mut Args, now_ms: u64) -> Result<Set, CmdError> {
        let key = args.need()?;
        let value = args.need()?;
        let mut s = Set {
            key,
            value,
            nx: false,
            xx: false,
            get: false,
            expiry: Expiry::None,
        };
        let mut timed = false;
        while args.left() > 0 {
            let word = args.need()?.to_ascii_uppercase();
            match &word[..] {
                b"NX" if !s.xx => s.nx = true,
                b"XX" if !s.nx => s.xx = true,
                b"GET" => s.get = true,
                b"KEEPTTL" if !timed => {
                    timed = true;
                    s.expiry = Expiry::Keep;
                }
                b"EX" | b"PX" | b"EXAT" | b"PXAT" if !timed => {
                    timed = true;
                    let raw = args.need().map_err(|_| CmdError::syntax())?;
                    let seconds = word[0] == b'E';
                    let absolute = word.len() == 4;
                    s.expiry = Expiry::At(expire_time(&raw, seconds, absolute, now_ms, "set")?);
                }
                _ => return Err(CmdError::syntax()),
            }
        }
        Ok(s)
    }

    /// Sets the string; with GET replies the old value.
    pub fn apply(self, ctx: &mut Ctx) -> CmdResult {
        let now = ctx.now_ms;
        let (reply, commit) = ctx.engine.mem(ctx.db(), |m| {
            let kind = m.kind(&self.key)?;
            let old = if self.get {
                match kind {
                    Some(KeyType::String) | None => m.string(&self.key)?,
                    Some(_) => return Err(crate::error::EngineError::WrongType),
                }
            } else {
                None
            };
            let done = |set: bool| match (self.get, set) {
                (true, _) => old.clone().map_or(Frame::Null, Frame::Bulk),
                (false, true) => Frame::ok(),
                (false, false) => Frame::Null,
            };
            if (self.nx && kind.is_some()) || (self.xx && kind.is_none()) {
                return Ok(done(false));
            }
            let expire_at = match self.expiry {
                Expiry::At(t) => t,
                Expiry::Keep => m.expire_at(&self.key)?,
                Expiry::None | Expiry::Persist => 0,
            };
            if kind.is_some_and(|k| k != KeyType::String && k != KeyType::List) {
                m.delete(&self.key)?;
            }
            if expire_at != 0 && expire_at <= now {
                // Already past: the key is gone at once.
                m.delete(&self.key)?;
                return Ok(done(true));
            }
            m.apply(vec![Op::Set {
                db: m.db(),
                key: self.key.clone(),
                value: self.value.clone(),
                expire_at,
            }])?;
            Ok(done(true))
        })?;
        if commit.is_some() {
            ctx.notify(ev::STRING, "set", &self.key);
            if let Expiry::At(_) = self.expiry {
                ctx.notify(ev::GENERIC, "expire", &self.key);
            }
        }
        Ok(Outcome::after(reply, commit))
    }
}

/// Runs SET.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let now = ctx.now_ms;
    Set::parse(&mut args, now)?.apply(ctx)
}

/// Runs SETNX key value: 1 when set, 0 when the key existed.
pub fn run_setnx(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let value = args.need()?;
    args.end()?;
    let (set, commit) = ctx.engine.mem(ctx.db(), |m| {
        if m.kind(&key)?.is_some() {
            return Ok(false);
        }
        let db = m.db();
        m.apply(vec![Op::Set {
            db,
            key: key.clone(),
            value: value.clone(),
            expire_at: 0,
        }])?;
        Ok(true)
    })?;
    if set {
        ctx.notify(ev::STRING, "set", &key);
    }
    Ok(Outcome::after(Frame::Integer(i64::from(set)), commit))
}

fn run_setex_as(ctx: &mut Ctx, mut args: Args, seconds: bool, cmd: &str) -> CmdResult {
    let key = args.need()?;
    let amount = args.need()?;
    let value = args.need()?;
    args.end()?;
    let at = expire_time(&amount, seconds, false, ctx.now_ms, cmd)?;
    Set {
        key,
        value,
        nx: false,
        xx: false,
        get: false,
        expiry: Expiry::At(at),
    }
    .apply(ctx)
}

/// Runs SETEX key seconds value.
pub fn run_setex(ctx: &mut Ctx, args: Args) -> CmdResult {
    run_setex_as(ctx, args, true, "setex")
}

/// Runs PSETEX key milliseconds value.
pub fn run_psetex(ctx: &mut Ctx, args: Args) -> CmdResult {
    run_setex_as(ctx, args, false, "psetex")
}

/// Runs GETSET key value: SET … GET.
pub fn run_getset(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let value = args.need()?;
    args.end()?;
    Set {
        key,
        value,
        nx: false,
        xx: false,
        get: true,
        expiry: Expiry::None,
    }
    .apply(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Set, String> {
        let items = std::iter::once("SET")
            .chain(line.split(' '))
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        Set::parse(&mut Args::new(items), 1_000).map_err(|e| e.0)
    }

    #[test]
    fn options() {
        let s = parse("k v NX GET PX 500").unwrap();
        assert!(s.nx && s.get && !s.xx);
        assert_eq!(s.expiry, Expiry::At(1_500));
        assert_eq!(parse("k v EXAT 7").unwrap().expiry, Expiry::At(7_000));
        assert_eq!(parse("k v keepttl").unwrap().expiry, Expiry::Keep);
        for bad in [
            "k v NX XX",
            "k v EX 1 PX 1",
            "k v EX 1 KEEPTTL",
            "k v EX",
            "k v FOO",
        ] {
            assert_eq!(parse(bad).unwrap_err(), "ERR syntax error", "{bad}");
        }
        assert_eq!(
            parse("k v EX 0").unwrap_err(),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            parse("k v EX 9223372036854775807").unwrap_err(),
            "ERR invalid expire time in 'set' command"
        );
        assert_eq!(
            parse("k v PX x").unwrap_err(),
            "ERR value is not an integer or out of range"
        );
    }
}
