//! INFO [section ...]: Redis's sections and field names, so that clients
//! and tools that parse them work, plus a `brook` section for storage.
use std::fmt::Write;
use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::args::{Args, CmdResult, Ctx};
use crate::engine::pubsub::Space;
use crate::resp::frame::Frame;
use crate::server::shared::lock;

/// The Redis version Brook reports: client libraries enable stream
/// features by it.
pub const REDIS_VERSION: &str = "7.0.15";

const DEFAULT: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "cluster",
    "keyspace",
    "brook",
];
const ALL: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
    "brook",
];

/// A field of /proc/self/status in bytes (`VmRSS`, `RssAnon`).
fn proc_status_bytes(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn cpu_seconds() -> (f64, f64) {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = text.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = 100.0;
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / tick;
    (get(11), get(12))
}

fn section(ctx: &Ctx, name: &str, out: &mut String) {
    let s = &ctx.shared.stats;
    let cfg = ctx.shared.config();
    let r = Ordering::Relaxed;
    let _ = match name {
        "server" => write!(
            out,
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nbrook_version:{}\r\nredis_mode:standalone\r\nos:{} {}\r\narch_bits:{}\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nexecutable:brook\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            usize::BITS,
            std::process::id(),
            ctx.shared.port.load(r),
            ctx.shared.started.elapsed().as_secs(),
            ctx.shared.started.elapsed().as_secs() / 86400,
        ),
        "clients" => write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\n",
            lock(&ctx.shared.clients).len(),
            cfg.number("maxclients"),
            ctx.shared.blocked.len(),
        ),
        "memory" => {
            let rss = proc_status_bytes("VmRSS");
            let anon = proc_status_bytes("RssAnon");
            write!(
                out,
                "# Memory\r\nused_memory:{anon}\r\nused_memory_human:{:.2}M\r\nused_memory_rss:{rss}\r\nused_memory_peak:{anon}\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\nmem_allocator:{}\r\n",
                anon as f64 / (1 << 20) as f64,
                crate::server::mem_allocator()
            )
        }
        "persistence" => write!(
            out,
            "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:1\r\naof_rewrite_in_progress:{}\r\naof_last_bgrewrite_status:{}\r\naof_rewrites:{}\r\naof_rewrites_consecutive_failures:{}\r\naof_last_write_status:ok\r\naof_current_size:{}\r\n",
            u8::from(ctx.engine.journal().compacting()),
            if ctx.engine.journal().failures.load(r) == 0 {
                "ok"
            } else {
                "err"
            },
            ctx.engine.journal().compactions.load(r),
            ctx.engine.journal().failures.load(r),
            ctx.engine.journal().size(),
        ),
        "stats" => write!(
            out,
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nclient_output_buffer_limit_disconnections:{}\r\ntotal_error_replies:{}\r\nexpired_keys:0\r\nevicted_keys:0\r\nkeyspace_hits:0\r\nkeyspace_misses:0\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsub_shardchannels:{}\r\n",
            s.connections.load(r),
            s.commands.load(r),
            s.net_input_bytes.load(r),
            s.net_output_bytes.load(r),
            s.rejected_connections.load(r),
            s.output_limit_disconnections.load(r),
            s.error_replies.load(r),
            ctx.shared.pubsub.names(Space::Channel),
            ctx.shared.pubsub.names(Space::Pattern),
            ctx.shared.pubsub.names(Space::Shard),
        ),
        "replication" => write!(
            out,
            "# Replication\r\nrole:master\r\nconnected_slaves:0\r\n"
        ),
        "cpu" => {
            let (user, sys) = cpu_seconds();
            write!(
                out,
                "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n"
            )
        }
        "commandstats" => {
            let _ = write!(out, "# Commandstats\r\n");
            for (c, st) in super::table::COMMANDS.iter().zip(&s.per_command) {
                let calls = st.calls.load(r);
                let rejected = st.rejected.load(r);
                if calls == 0 && rejected == 0 {
                    continue;
                }
                let usec = st.usec.load(r);
                let _ = write!(
                    out,
                    "cmdstat_{}:calls={calls},usec={usec},usec_per_call={:.2},rejected_calls={rejected},failed_calls={}\r\n",
                    c.name.to_ascii_lowercase(),
                    if calls == 0 {
                        0.0
                    } else {
                        usec as f64 / calls as f64
                    },
                    st.failed.load(r),
                );
            }
            Ok(())
        }
        "errorstats" => write!(out, "# Errorstats\r\n"),
        "cluster" => write!(out, "# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => {
            let _ = write!(out, "# Keyspace\r\n");
            for db in 0..ctx.engine.databases() {
                let n = ctx.engine.dbsize(db).unwrap_or(0);
                let e = ctx.engine.expires_count(db).unwrap_or(0);
                if n > 0 {
                    let _ = write!(out, "db{db}:keys={n},expires={e},avg_ttl=0\r\n");
                }
            }
            Ok(())
        }
        "brook" => {
            let st = ctx.engine.storage_stats();
            let j = ctx.engine.journal();
            write!(
                out,
                "# Brook\r\nappendfsync:{}\r\nopen_logs:{}\r\nsegments:{}\r\ndisk_bytes:{}\r\nfsyncs:{}\r\nlast_fsync_usec:{}\r\njournal_bytes:{}\r\njournal_compactions:{}\r\njournal_compacting:{}\r\n",
                cfg.fsync().as_str(),
                st.logs,
                st.segments,
                st.disk_bytes,
                st.fsyncs,
                st.last_fsync_micros,
                j.size(),
                j.compactions.load(r),
                u8::from(j.compacting()),
            )
        }
        _ => Ok(()),
    };
}

/// The sections asked for (default, `all`, `everything`, or names).
pub fn run(ctx: &mut Ctx, mut args: Args) -> CmdResult {
    let asked: Vec<String> = args
        .rest()
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let mut names: Vec<&str> = Vec::new();
    if asked.is_empty() || asked.iter().any(|a| a == "default") {
        names.extend(DEFAULT);
    }
    if asked.iter().any(|a| a == "all" || a == "everything") {
        names.extend(ALL);
    }
    for a in &asked {
        if let Some(n) = ALL.iter().find(|n| **n == a.as_str()) {
            names.push(n);
        }
    }
    let mut seen = Vec::new();
    let mut out = String::new();
    for n in names {
        if seen.contains(&n) {
            continue;
        }
        seen.push(n);
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section(ctx, n, &mut out);
    }
    Ok(Frame::Bulk(Bytes::from(out)).into())
}
