//! LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].

use super::args::{Args, CmdError, CmdResult, Ctx};
use crate::resp::frame::Frame;

/// Runs LPOS: the index of the `rank`th match (from the tail when rank is
/// negative), or with COUNT the indexes of up to that many matches (0 for
/// all), looking at no more than MAXLEN items (0 for all).
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let key = args.need()?;
    let value = args.need()?;
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0u64);
    while args.left() > 0 {
        if args.eat("RANK") {
            rank = args.i64()?;
            // Redis 7.2's bound (7.0 misread it).
            if rank == i64::MIN {
                return Err(CmdError::err(
                    "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
            if rank == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if args.eat("COUNT") {
            count = Some(args.u64_or("ERR COUNT can't be negative")?);
        } else if args.eat("MAXLEN") {
            maxlen = args.u64_or("ERR MAXLEN can't be negative")?;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let (found, _) = ctx.engine.mem(ctx.db(), |m| {
        m.list(&key, |l| {
            let Some(l) = l else {
                return Vec::new();
            };
            let want = match count {
                None => 1,
                Some(0) => usize::MAX,
                Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
            };
            let limit = match maxlen {
                0 => l.len(),
                n => usize::try_from(n).unwrap_or(usize::MAX).min(l.len()),
            };
            let mut skip = rank.unsigned_abs() - 1;
            let mut out = Vec::new();
            let mut check = |i: usize| {
                if l[i] != value {
                    return true;
                }
                if skip > 0 {
                    skip -= 1;
                    return true;
                }
                out.push(Frame::Integer(i as i64));
                out.len() < want
            };
            if rank > 0 {
                (0..limit).all(&mut check);
            } else {
                (l.len() - limit..l.len()).rev().all(&mut check);
            }
            out
        })
    })?;
    Ok(match count {
        Some(_) => Frame::Array(found),
        None => found.into_iter().next().unwrap_or(Frame::Null),
    }
    .into())
}
