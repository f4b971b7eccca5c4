//! The server's settings: redis-server's flags (`--port 7000`), a
//! redis.conf-style file (`port 7000`, one directive a line), and the
//! parameters CONFIG GET and CONFIG SET see.
//!
//! Every parameter has a row in [`PARAMS`]. Those marked `Honoured` change
//! what Brook does; those marked `Accepted` are Redis's encoding and
//! persistence tuning, which has no meaning here: they are stored and
//! reported back so that tools that set them keep working
//! (`docs/commands.md` lists them).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::FsyncPolicy;
use crate::engine::glob::glob_match;

/// Whether a parameter has an effect in Brook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Brook acts on it.
    Honoured,
    /// Stored and reported, no effect.
    Accepted,
    /// Read at start only; CONFIG SET refuses it.
    Immutable,
}

/// One parameter: its name, default and effect.
pub struct Param {
    /// Redis's name.
    pub name: &'static str,
    /// The value before any flag or file sets it.
    pub default: &'static str,
    /// What setting it does.
    pub effect: Effect,
}

const fn p(name: &'static str, default: &'static str, effect: Effect) -> Param {
    Param {
        name,
        default,
        effect,
    }
}

use Effect::{Accepted, Honoured, Immutable};

/// Every parameter the server knows, in CONFIG GET's order.
pub const PARAMS: &[Param] = &[
    p("bind", "127.0.0.1", Immutable),
    p("port", "6379", Immutable),
    p("dir", "./brook-data", Immutable),
    p("databases", "16", Immutable),
    p("appendfsync", "everysec", Honoured),
    p("appendonly", "yes", Accepted),
    p("requirepass", "", Honoured),
    p("maxclients", "10000", Honoured),
    p("timeout", "0", Honoured),
    p("protected-mode", "yes", Honoured),
    p("notify-keyspace-events", "", Honoured),
    p("stream-node-max-entries", "100", Honoured),
    p("stream-node-max-bytes", "4096", Honoured),
    p("proto-max-bulk-len", "536870912", Honoured),
    p("client-query-buffer-limit", "1073741824", Honoured),
    p(
        "client-output-buffer-limit",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        Honoured,
    ),
    p("loglevel", "notice", Honoured),
    p("save", "", Accepted),
    p("appendfilename", "appendonly.aof", Accepted),
    p("auto-aof-rewrite-percentage", "100", Honoured),
    p("auto-aof-rewrite-min-size", "67108864", Honoured),
    p("maxmemory", "0", Accepted),
    p("maxmemory-policy", "noeviction", Accepted),
    p("list-max-listpack-size", "-2", Accepted),
    p("list-max-ziplist-size", "-2", Accepted),
    p("list-compress-depth", "0", Accepted),
    p("hash-max-listpack-entries", "128", Accepted),
    p("hash-max-listpack-value", "64", Accepted),
    p("hash-max-ziplist-entries", "128", Accepted),
    p("hash-max-ziplist-value", "64", Accepted),
    p("set-max-intset-entries", "512", Accepted),
    p("zset-max-listpack-entries", "128", Accepted),
    p("zset-max-listpack-value", "64", Accepted),
    p("zset-max-ziplist-entries", "128", Accepted),
    p("zset-max-ziplist-value", "64", Accepted),
    p("activerehashing", "yes", Accepted),
    p("hz", "10", Accepted),
    p("lazyfree-lazy-user-del", "no", Accepted),
    p("tcp-keepalive", "300", Accepted),
    p("tcp-backlog", "511", Immutable),
    // Threads serving connections; one, as Redis's event loop (see
    // docs/design.md, "Server").
    p("io-threads", "1", Immutable),
    // Transparent huge pages off for the process, as Redis's default: on
    // a fault the kernel would zero 2 MiB where 4 KiB was asked.
    p("disable-thp", "yes", Immutable),
    p("daemonize", "no", Immutable),
    p("logfile", "", Immutable),
    p("slowlog-log-slower-than", "10000", Accepted),
    p("slowlog-max-len", "128", Accepted),
    p("latency-tracking", "yes", Accepted),
    p("lua-time-limit", "5000", Accepted),
    p("busy-reply-threshold", "5000", Accepted),
    p("cluster-enabled", "no", Immutable),
];

/// A bad directive or value, worded as redis-server words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The parameters' current values, by name.
#[derive(Debug, Clone)]
pub struct Config {
    values: BTreeMap<&'static str, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: PARAMS
                .iter()
                .map(|p| (p.name, p.default.to_string()))
                .collect(),
        }
    }
}

/// Looks a parameter up by name, any case (`list-max-ziplist-size` and
/// friends are Redis's old aliases and have rows of their own).
pub fn param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

fn parse_u64(v: &str) -> Result<u64, ConfigError> {
    parse_memory(v).ok_or_else(|| ConfigError("argument couldn't be parsed into an integer".into()))
}

/// A number with an optional unit as redis.conf allows: `1gb`, `512mb`,
/// `64k` (k, m, g are powers of 1000; kb, mb, gb of 1024).
pub fn parse_memory(v: &str) -> Option<u64> {
    let lower = v.to_ascii_lowercase();
    let units: [(&str, u64); 6] = [
        ("kb", 1 << 10),
        ("mb", 1 << 20),
        ("gb", 1 << 30),
        ("k", 1000),
        ("m", 1_000_000),
        ("g", 1_000_000_000),
    ];
    for (suffix, mul) in units {
        if let Some(n) = lower.strip_suffix(suffix) {
            return n.parse::<u64>().ok()?.checked_mul(mul);
        }
    }
    lower.parse().ok()
}

fn parse_bool(v: &str) -> Result<String, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "yes" | "no" => Ok(v.to_ascii_lowercase()),
        _ => Err(ConfigError("argument must be 'yes' or 'no'".to_string())),
    }
}

impl Config {
    /// The current value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        param(name)
            .and_then(|p| self.values.get(p.name))
            .map(String::as_str)
    }

    /// Parameter names and values matching a glob pattern (CONFIG GET).
    pub fn matching(&self, pattern: &[u8]) -> Vec<(&'static str, String)> {
        PARAMS
            .iter()
            .filter(|p| glob_match(pattern, p.name.as_bytes(), true))
            .map(|p| (p.name, self.values.get(p.name).cloned().unwrap_or_default()))
            .collect()
    }

    /// Checks and normalizes a value, then stores it. `at_start` allows the
    /// immutable parameters (flags and the config file).
    pub fn set(&mut self, name: &str, value: &str, at_start: bool) -> Result<(), ConfigError> {
        let Some(p) = param(name) else {
            return Err(ConfigError(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        };
        if p.effect == Immutable && !at_start {
            return Err(ConfigError("can't set immutable config".to_string()));
        }
        let v = match p.name {
            "port" => {
                let n: u16 = value.parse().map_err(|_| ConfigError("argument couldn't be parsed into an integer".into()))?;
                n.to_string()
            }
            "databases" => {
                let n = parse_u64(value)?;
                if !(1..=1_000_000).contains(&n) {
                    return Err(ConfigError("argument must be between 1 and 1000000 inclusive".to_string()));
                }
                n.to_string()
            }
            "appendfsync" => match FsyncPolicy::parse(value) {
                Some(f) => f.as_str().to_string(),
                None => return Err(ConfigError("argument(s) must be one of the following: everysec, always, no".to_string())),
            },
            "loglevel" => match value.to_ascii_lowercase().as_str() {
                l @ ("debug" | "verbose" | "notice" | "warning" | "nothing") => l.to_string(),
                _ => return Err(ConfigError("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".to_string())),
            },
            "appendonly" | "protected-mode" | "activerehashing" | "lazyfree-lazy-user-del" | "daemonize" | "cluster-enabled" | "latency-tracking" | "disable-thp" => {
                parse_bool(value)?
            }
            "maxclients" | "timeout" | "stream-node-max-entries" | "stream-node-max-bytes" | "client-query-buffer-limit" | "maxmemory" | "auto-aof-rewrite-min-size" | "auto-aof-rewrite-percentage" | "tcp-keepalive" | "tcp-backlog" | "hz" => {
                parse_u64(value)?.to_string()
            }
            "io-threads" => {
                let n = parse_u64(value)?;
                if !(1..=128).contains(&n) {
                    return Err(ConfigError("argument must be between 1 and 128 inclusive".to_string()));
                }
                n.to_string()
            }
            "proto-max-bulk-len" => {
                let n = parse_u64(value)?;
                if n < 1024 * 1024 {
                    return Err(ConfigError("argument must be between 1048576 and 9223372036854775807 inclusive".to_string()));
                }
                n.to_string()
            }
            "client-output-buffer-limit" => self.output_limits_merged(value)?,
            "notify-keyspace-events" => match super::events::parse(value) {
                Some(flags) => super::events::format(flags),
                None => {
                    return Err(ConfigError(
                        "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string(),
                    ));
                }
            },
            "dir" => {
                if value.is_empty() {
                    return Err(ConfigError("dir must not be empty".into()));
                }
                value.to_string()
            }
            _ => value.to_string(),
        };
        self.values.insert(p.name, v);
        Ok(())
    }

    /// `client-output-buffer-limit` takes classes to change, the others
    /// keep their limits.
    fn output_limits_merged(&self, value: &str) -> Result<String, ConfigError> {
        let bad = || ConfigError("Invalid argument".into());
        let words: Vec<&str> = value.split_whitespace().collect();
        if words.is_empty() || words.len() % 4 != 0 {
            return Err(bad());
        }
        let mut current =
            OutputLimits::parse(self.get("client-output-buffer-limit").unwrap_or_default())
                .ok_or_else(bad)?;
        for c in words.chunks(4) {
            let class = match c[0].to_ascii_lowercase().as_str() {
                "normal" => 0,
                "slave" | "replica" => 1,
                "pubsub" => 2,
                _ => return Err(bad()),
            };
            let hard = parse_memory(c[1]).ok_or_else(bad)?;
            let soft = parse_memory(c[2]).ok_or_else(bad)?;
            let secs = c[3].parse::<u64>().map_err(|_| bad())?;
            current.classes[class] = (hard, soft, secs);
        }
        Ok(current.to_string())
    }

    /// `--appendfsync`.
    pub fn fsync(&self) -> FsyncPolicy {
        self.get("appendfsync")
            .and_then(FsyncPolicy::parse)
            .unwrap_or_default()
    }

    /// A numeric parameter (0 if unset or not a number).
    pub fn number(&self, name: &str) -> u64 {
        self.get(name).and_then(parse_memory).unwrap_or(0)
    }

    /// A yes/no parameter.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name) == Some("yes")
    }

    /// The data directory.
    pub fn dir(&self) -> PathBuf {
        PathBuf::from(self.get("dir").unwrap_or("./brook-data"))
    }

    /// The output-buffer limits by client class.
    pub fn output_limits(&self) -> OutputLimits {
        OutputLimits::parse(self.get("client-output-buffer-limit").unwrap_or_default())
            .unwrap_or_default()
    }

    /// Reads redis-server's command line after `serve`: an optional config
    /// file first, then `--name value...` pairs, which win over the file.
    pub fn from_args(args: &[String]) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        let mut rest = args;
        if let Some(first) = args.first() {
            if !first.starts_with("--") {
                let text = std::fs::read_to_string(first).map_err(|e| {
                    ConfigError(format!(
                        "Fatal error, can't open config file '{first}': {e}"
                    ))
                })?;
                cfg.load_file(&text)?;
                rest = &args[1..];
            }
        }
        let mut i = 0;
        while i < rest.len() {
            let Some(name) = rest[i].strip_prefix("--") else {
                return Err(ConfigError(format!(
                    "unexpected argument '{}': flags are --name value",
                    rest[i]
                )));
            };
            let mut values = Vec::new();
            i += 1;
            while i < rest.len() && !rest[i].starts_with("--") {
                values.push(rest[i].as_str());
                i += 1;
            }
            cfg.set(name, &values.join(" "), true)
                .map_err(|e| ConfigError(format!("--{name}: {}", e.0)))?;
        }
        Ok(cfg)
    }

    /// Applies a redis.conf-style file; an unknown directive or a bad value
    /// is an error naming the line.
    pub fn load_file(&mut self, text: &str) -> Result<(), ConfigError> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let value = unquote(value.trim());
            let fail = |msg: String| {
                ConfigError(format!(
                    "*** FATAL CONFIG FILE ERROR ***\nline {}: >>> '{line}'\n{msg}",
                    n + 1
                ))
            };
            if param(name).is_none() {
                return Err(fail("Bad directive or wrong number of arguments".into()));
            }
            self.set(name, &value, true).map_err(|e| fail(e.0))?;
        }
        Ok(())
    }
}

/// A value as redis.conf may quote it: `""` or `"a b"`.
fn unquote(v: &str) -> String {
    if v.len() >= 2
        && (v.starts_with('"') && v.ends_with('"') || v.starts_with('\'') && v.ends_with('\''))
    {
        v[1..v.len() - 1].to_string()
    } else {
        v.to_string()
    }
}

/// `client-output-buffer-limit`: per class (normal, replica, pubsub) a hard
/// limit, a soft limit and the seconds a client may stay over the soft one;
/// 0 means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutputLimits {
    /// normal, replica, pubsub.
    pub classes: [(u64, u64, u64); 3],
}

impl OutputLimits {
    fn parse(s: &str) -> Option<OutputLimits> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let mut out = OutputLimits::default();
        for c in words.chunks(4) {
            if c.len() != 4 {
                return None;
            }
            let class = match c[0] {
                "normal" => 0,
                "slave" | "replica" => 1,
                "pubsub" => 2,
                _ => return None,
            };
            out.classes[class] = (parse_memory(c[1])?, parse_memory(c[2])?, c[3].parse().ok()?);
        }
        Some(out)
    }
}

impl std::fmt::Display for OutputLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names = ["normal", "slave", "pubsub"];
        let parts: Vec<String> = names
            .iter()
            .zip(self.classes)
            .map(|(n, (h, s, t))| format!("{n} {h} {s} {t}"))
            .collect();
        write!(f, "{}", parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_and_values_are_checked() {
        let cfg = Config::from_args(&[
            "--port".into(),
            "7000".into(),
            "--appendfsync".into(),
            "ALWAYS".into(),
        ])
        .unwrap();
        assert_eq!(cfg.get("port"), Some("7000"));
        assert_eq!(cfg.fsync(), FsyncPolicy::Always);
        assert!(Config::from_args(&["--port".into(), "x".into()]).is_err());
        assert!(Config::from_args(&["--nonsense".into(), "1".into()]).is_err());
        let save = Config::from_args(&["--save".into(), "".into()]).unwrap();
        assert_eq!(save.get("save"), Some(""));
    }

    #[test]
    fn a_file_error_names_its_line() {
        let mut cfg = Config::default();
        cfg.load_file("# comment\nport 7001\nrequirepass \"s3 cret\"\n")
            .unwrap();
        assert_eq!(cfg.get("port"), Some("7001"));
        assert_eq!(cfg.get("requirepass"), Some("s3 cret"));
        let err = cfg.load_file("port 1\n\nfrobnicate yes\n").unwrap_err();
        assert!(err.0.contains("line 3"), "{err}");
        assert!(err.0.contains("Bad directive"), "{err}");
    }

    #[test]
    fn config_set_rules() {
        let mut cfg = Config::default();
        assert!(cfg.set("port", "1", false).is_err());
        cfg.set("MAXCLIENTS", "5", false).unwrap();
        assert_eq!(cfg.number("maxclients"), 5);
        cfg.set("client-output-buffer-limit", "normal 1mb 0 0", false)
            .unwrap();
        assert_eq!(cfg.output_limits().classes[0], (1 << 20, 0, 0));
        assert_eq!(cfg.output_limits().classes[2], (33554432, 8388608, 60));
        assert_eq!(cfg.matching(b"stream-node-*").len(), 2);
        assert!(cfg.set("appendfsync", "sometimes", false).is_err());
    }
}
