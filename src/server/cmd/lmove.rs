//! LMOVE source destination LEFT|RIGHT LEFT|RIGHT, RPOPLPUSH source
//! destination (LMOVE … RIGHT LEFT), and their blocking forms BLMOVE
//! (… timeout) and BRPOPLPUSH source destination timeout.

use crate::server::events as ev;
use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, Outcome};
use super::blpop::timeout;
use crate::engine::keyspace::{Engine, KeyType};
use crate::engine::memory::Op;
use crate::error::EngineError;
use crate::resp::frame::Frame;
use crate::server::blocking::{BlockRead, BlockSpec};
use crate::server::shared::Shared;
use crate::storage::Commit;

/// LEFT (false) or RIGHT (true).
pub fn side(args: &mut Args) -> Result<bool, CmdError> {
    if args.eat("LEFT") {
        Ok(false)
    } else if args.eat("RIGHT") {
        Ok(true)
    } else {
        Err(CmdError::syntax())
    }
}

/// One move, as the blocking registry also runs it.
#[derive(Debug, Clone)]
pub struct Move {
    /// Source list.
    pub src: Bytes,
    /// Destination list.
    pub dst: Bytes,
    /// Pop from the source's tail.
    pub from_tail: bool,
    /// Push on the destination's tail.
    pub to_tail: bool,
}

impl Move {
    /// Moves one item: the item, or `None` when the source is empty. A
    /// destination of another type is WRONGTYPE.
    pub fn apply(
        &self,
        engine: &Engine,
        db: usize,
    ) -> Result<(Option<Bytes>, Option<Commit>), EngineError> {
        engine.mem(db, |m| {
            if m.list(&self.src, |l| l.is_none_or(|l| l.is_empty()))? {
                return Ok(None);
            }
            match m.kind(&self.dst)? {
                None | Some(KeyType::List) => {}
                Some(_) => return Err(EngineError::WrongType),
            }
            let mut outs = m.apply(vec![Op::LMove {
                db,
                src: self.src.clone(),
                dst: self.dst.clone(),
                from_tail: self.from_tail,
                to_tail: self.to_tail,
            }])?;
            Ok(outs.pop().and_then(|mut o| o.items.pop()))
        })
    }
}

impl Move {
    /// Publishes the keyspace events of a move that happened.
    pub fn notify(&self, shared: &Shared, engine: &Engine, db: usize) {
        ev::emit_list(
            shared,
            engine,
            ev::list_side(true, self.from_tail),
            db,
            &self.src,
        );
        ev::emit(
            shared,
            ev::LIST,
            ev::list_side(false, self.to_tail),
            db,
            &self.dst,
        );
    }
}

/// Moves, or blocks (outside MULTI, with a timeout) when the source is
/// empty.
fn run_move(ctx: &mut Ctx, mv: Move, block: Option<Option<std::time::Duration>>) -> CmdResult {
    let (item, commit) = mv.apply(ctx.engine, ctx.db())?;
    if let Some(item) = item {
        ctx.wake(&mv.dst, commit.as_slice());
        mv.notify(ctx.shared, ctx.engine, ctx.db());
        return Ok(Outcome::after(Frame::Bulk(item), commit));
    }
    match block {
        Some(timeout) if !ctx.in_exec => Ok(Outcome::Block(Box::new(BlockSpec {
            db: ctx.db(),
            timeout,
            read: BlockRead::Move(mv),
            resp3: ctx.resp3(),
        }))),
        _ => Ok(Frame::Null.into()),
    }
}

fn parse(args: &mut Args, sides: bool) -> Result<Move, CmdError> {
    let src = args.need()?;
    let dst = args.need()?;
    let (from_tail, to_tail) = if sides {
        (side(args)?, side(args)?)
    } else {
        (true, false)
    };
    Ok(Move {
        src,
        dst,
        from_tail,
        to_tail,
    })
}

/// Runs LMOVE.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let mv = parse(&mut args, true)?;
    args.end()?;
    run_move(ctx, mv, None)
}

/// Runs RPOPLPUSH.
pub fn run_rpoplpush(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let mv = parse(&mut args, false)?;
    args.end()?;
    run_move(ctx, mv, None)
}

/// Runs BLMOVE.
pub fn run_blmove(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let mv = parse(&mut args, true)?;
    let t = timeout(&args.need()?)?;
    args.end()?;
    run_move(ctx, mv, Some(t))
}

/// Runs BRPOPLPUSH.
pub fn run_brpoplpush(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let mv = parse(&mut args, false)?;
    let t = timeout(&args.need()?)?;
    args.end()?;
    run_move(ctx, mv, Some(t))
}
