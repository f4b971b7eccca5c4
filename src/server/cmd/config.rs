//! CONFIG GET pattern [pattern ...] | SET name value [name value ...] |
//! RESETSTAT | HELP
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::{Args, CmdError, CmdResult, Ctx, bulk_str};
use super::table::{unknown_subcommand, wrong_arity};
use crate::engine::stream::NodeLimits;
use crate::resp::frame::Frame;

/// Dispatches the subcommands.
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let sub = args.need()?;
    match &sub.to_ascii_uppercase()[..] {
        b"GET" => {
            if args.left() == 0 {
                return Err(wrong_arity("config|get"));
            }
            let cfg = ctx.shared.config();
            let mut seen = std::collections::BTreeMap::new();
            for p in args.rest() {
                for (k, v) in cfg.matching(&p) {
                    seen.insert(k, v);
                }
            }
            Ok(Frame::Map(
                seen.into_iter()
                    .map(|(k, v)| (bulk_str(k), Frame::Bulk(Bytes::from(v))))
                    .collect(),
            )
            .into())
        }
        b"SET" => {
            if args.left() == 0 || args.left() % 2 != 0 {
                return Err(wrong_arity("config|set"));
            }
            let pairs = args.rest();
            let mut cfg = ctx.shared.config();
            // All or nothing: check every pair on a copy first.
            for kv in pairs.chunks(2) {
                let name = String::from_utf8_lossy(&kv[0]).into_owned();
                let value = String::from_utf8_lossy(&kv[1]).into_owned();
                cfg.set(&name, &value, false).map_err(|e| {
                    CmdError::err(format!(
                        "CONFIG SET failed (possibly related to argument '{}') - {}",
                        name.to_ascii_lowercase(),
                        e.0
                    ))
                })?;
            }
            apply(ctx, &cfg)?;
            ctx.shared.set_config(cfg);
            Ok(Frame::ok().into())
        }
        b"RESETSTAT" => {
            let s = &ctx.shared.stats;
            for c in &s.per_command {
                c.calls.store(0, Ordering::Relaxed);
                c.usec.store(0, Ordering::Relaxed);
                c.rejected.store(0, Ordering::Relaxed);
                c.failed.store(0, Ordering::Relaxed);
            }
            for a in [
                &s.connections,
                &s.rejected_connections,
                &s.commands,
                &s.net_input_bytes,
                &s.net_output_bytes,
                &s.error_replies,
                &s.output_limit_disconnections,
            ] {
                a.store(0, Ordering::Relaxed);
            }
            Ok(Frame::ok().into())
        }
        b"REWRITE" => Err(CmdError::err("The server is running without a config file")),
        b"HELP" => Ok(Frame::Array(
            [
                "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "GET <pattern>",
                "SET <directive> <value>",
                "RESETSTAT",
                "HELP",
            ]
            .iter()
            .map(|s| bulk_str(s))
            .collect(),
        )
        .into()),
        _ => Err(unknown_subcommand("CONFIG", &sub)),
    }
}

/// Puts the parameters that act at run time into effect.
fn apply(ctx: &Ctx, cfg: &crate::server::config::Config) -> Result<(), CmdError> {
    ctx.engine.set_node_limits(NodeLimits {
        max_entries: cfg.number("stream-node-max-entries"),
        max_bytes: cfg.number("stream-node-max-bytes"),
    });
    ctx.engine.set_default_fsync(cfg.fsync());
    let j = ctx.engine.journal();
    let r = std::sync::atomic::Ordering::Relaxed;
    j.rewrite_pct
        .store(cfg.number("auto-aof-rewrite-percentage"), r);
    j.rewrite_min
        .store(cfg.number("auto-aof-rewrite-min-size"), r);
    Ok(())
}
