//! `brook serve`: opens the engine, listens, accepts clients, runs the
//! periodic retention check, and shuts down cleanly on SIGINT, SIGTERM or
//! SHUTDOWN: stop accepting, let connections finish the commands they are
//! running, sync every log, exit 0.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinSet;

use super::client::ClientInfo;
use super::config::Config;
use super::shared::{Shared, lock};
use crate::engine::keyspace::{Engine, EngineConfig, now_ms};
use crate::engine::settings::StreamSettings;
use crate::engine::stream::NodeLimits;
use crate::error::EngineError;

/// How often retention (MAXAGE, MAXBYTES) is checked, as Kafka's
/// `log.retention.check.interval.ms` (which defaults to 5 minutes).
const RETENTION_CHECK: Duration = Duration::from_secs(10);
/// How long shutdown waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the server could not start or stopped badly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory could not be opened.
    #[error("cannot open the data directory {dir}: {source}")]
    Open {
        /// The directory.
        dir: String,
        /// Why.
        #[source]
        source: EngineError,
    },
    /// The port could not be bound.
    #[error("could not bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The final sync failed: acknowledged writes under everysec may be lost.
    #[error("final sync failed: {0}")]
    Sync(#[source] EngineError),
}

/// The engine settings the server's parameters give.
pub fn engine_config(cfg: &Config) -> EngineConfig {
    let mut e = EngineConfig::default();
    e.store.log.fsync = cfg.fsync();
    e.databases = cfg.number("databases").max(1) as usize;
    e.node_limits = NodeLimits {
        max_entries: cfg.number("stream-node-max-entries"),
        max_bytes: cfg.number("stream-node-max-bytes"),
    };
    e.stream_defaults = StreamSettings::default();
    e.journal_rewrite_pct = cfg.number("auto-aof-rewrite-percentage");
    e.journal_rewrite_min = cfg.number("auto-aof-rewrite-min-size");
    e
}

fn open_engine(cfg: &Config) -> Result<Engine, ServeError> {
    let dir = cfg.dir();
    Engine::open(&dir, engine_config(cfg)).map_err(|source| ServeError::Open {
        dir: dir.display().to_string(),
        source,
    })
}

/// DEBUG RELOAD: sync, close and reopen the engine.
pub fn reload(shared: &Shared) -> Result<(), EngineError> {
    let cfg = shared.config();
    shared.reload_engine(|| Engine::open(cfg.dir(), engine_config(&cfg)))?;
    tracing::info!("DB reloaded by DEBUG RELOAD");
    Ok(())
}

/// The port the server listens on (for tests that asked for port 0).
pub type Ready = tokio::sync::oneshot::Sender<SocketAddr>;

/// Runs the server until shutdown. `ready` learns the bound address.
pub async fn run(cfg: Config, ready: Option<Ready>) -> Result<(), ServeError> {
    let started = Instant::now();
    let engine = crate::server::shared::blocking(|| open_engine(&cfg))?;
    let rec = crate::server::shared::blocking(|| engine.open_all()).map_err(|source| {
        ServeError::Open {
            dir: cfg.dir().display().to_string(),
            source,
        }
    })?;
    tracing::info!(
        "recovered {} streams, {} entries, {} lists and strings, truncated {} torn bytes in {} ms",
        rec.streams,
        rec.entries,
        rec.memory_keys,
        rec.torn_bytes,
        started.elapsed().as_millis()
    );
    if rec.memory_conflicts > 0 {
        tracing::warn!(
            "{} lists or strings were dropped: a stream holds their key (a delete lost with the journal's tail)",
            rec.memory_conflicts
        );
    }
    let port: u16 = cfg.get("port").and_then(|p| p.parse().ok()).unwrap_or(6379);
    let binds: Vec<String> = cfg
        .get("bind")
        .unwrap_or("127.0.0.1")
        .split_whitespace()
        .map(String::from)
        .collect();
    // Redis's tcp-backlog (511): connections the kernel queues before they
    // are accepted. With a short queue, a burst of connects overflows it and
    // the kernel drops SYNs, which the clients retry only a second later.
    let backlog = u32::try_from(cfg.number("tcp-backlog"))
        .unwrap_or(u32::MAX)
        .max(1);
    let mut listeners = Vec::new();
    for b in &binds {
        let addr = format!("{}:{port}", b.trim_start_matches('-'));
        let addr = if b.contains(':') && !b.starts_with('[') {
            format!("[{b}]:{port}")
        } else {
            addr
        };
        let l = listen(&addr, backlog)
            .await
            .map_err(|source| ServeError::Bind {
                addr: addr.clone(),
                source,
            })?;
        listeners.push(l);
    }
    let Some(first) = listeners.first() else {
        return Err(ServeError::Bind {
            addr: String::new(),
            source: std::io::Error::other("no bind address"),
        });
    };
    let local = first.local_addr().map_err(|source| ServeError::Bind {
        addr: binds.join(" "),
        source,
    })?;
    let shared = Arc::new(Shared::new(engine, cfg.clone()));
    shared
        .port
        .store(u64::from(local.port()), Ordering::Relaxed);
    tracing::info!(
        "data directory {}, appendfsync {}",
        cfg.dir().display(),
        cfg.fsync().as_str()
    );
    tracing::info!("Ready to accept connections on {}", local);
    if let Some(r) = ready {
        let _ = r.send(local);
    }

    let mut tasks = JoinSet::new();
    for l in listeners {
        let shared = shared.clone();
        tasks.spawn(accept_loop(shared, l));
    }
    tasks.spawn(retention_loop(shared.clone()));
    tasks.spawn(expiry_loop(shared.clone()));

    let mut shutdown = shared.shutdown.subscribe();
    let sigterm = async {
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Received SIGINT scheduling shutdown..."),
        _ = sigterm => tracing::info!("Received SIGTERM scheduling shutdown..."),
        _ = shutdown.wait_for(|s| *s) => tracing::info!("User requested shutdown..."),
    }
    let _ = shared.shutdown.send(true);
    // Accept loops and connections see the flag and end.
    let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            r = tasks.join_next() => if r.is_none() { break },
            _ = &mut deadline => {
                tracing::warn!("connections still busy after {:?}; syncing anyway", SHUTDOWN_GRACE);
                break;
            }
        }
    }
    let engine = shared.engine();
    crate::server::shared::blocking(|| engine.quiesce()).map_err(ServeError::Sync)?;
    tracing::info!("Brook is now ready to exit, bye bye...");
    Ok(())
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// A listening socket on `addr` with SO_REUSEADDR and this backlog.
async fn listen(addr: &str, backlog: u32) -> std::io::Result<TcpListener> {
    let Some(sa) = tokio::net::lookup_host(addr).await?.next() else {
        return Err(std::io::Error::other("the address resolves to nothing"));
    };
    let socket = if sa.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(sa)?;
    socket.listen(backlog)
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|s| *s) => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (socket, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        if let Some(refusal) = refuse(&shared, addr) {
            shared
                .stats
                .rejected_connections
                .fetch_add(1, Ordering::Relaxed);
            tokio::spawn(send_and_close(socket, refusal));
            continue;
        }
        shared.stats.connections.fetch_add(1, Ordering::Relaxed);
        let laddr = socket.local_addr().unwrap_or(addr);
        let info = Arc::new(ClientInfo::new(shared.next_client_id(), addr, laddr));
        lock(&shared.clients).insert(info.id, info.clone());
        conns.spawn(super::connection::serve(shared.clone(), socket, info));
    }
    drop(listener);
    while conns.join_next().await.is_some() {}
}

/// Why a new client is turned away, if it is.
fn refuse(shared: &Shared, addr: SocketAddr) -> Option<&'static str> {
    let (max, no_password, protected) = shared.with_config(|cfg| {
        (
            cfg.number("maxclients"),
            cfg.get("requirepass").unwrap_or_default().is_empty(),
            cfg.flag("protected-mode"),
        )
    });
    if max > 0 && lock(&shared.clients).len() as u64 >= max {
        return Some("-ERR max number of clients reached\r\n");
    }
    if protected && no_password && !is_loopback(addr.ip()) {
        return Some(
            "-DENIED Brook is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Brook you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Brook from the same host the server is running, however MAKE SURE Brook is not publicly accessible from internet if you do so. 2) Alternatively you can just disable the protected mode by editing the Brook configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n",
        );
    }
    None
}

async fn send_and_close(mut socket: TcpStream, text: &'static str) {
    let _ = socket.write_all(text.as_bytes()).await;
    let _ = socket.shutdown().await;
}

async fn retention_loop(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(RETENTION_CHECK) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        // On a thread of its own: removing segment files must not hold up
        // the thread that serves the clients.
        let engine = shared.engine();
        match tokio::task::spawn_blocking(move || engine.enforce_retention(now_ms())).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!("retention removed {n} entries"),
            Ok(Err(e)) => tracing::warn!("retention check failed: {e}"),
            Err(e) => tracing::warn!("retention check did not finish: {e}"),
        }
    }
}

/// Removes expired keys in the background, as Redis's active expiry: ten
/// times a second, at most `EXPIRE_BATCH` keys each time.
async fn expiry_loop(shared: Arc<Shared>) {
    const EXPIRE_BATCH: usize = 200;
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let engine = shared.engine();
        // Connections journal what they staged before replying; a task
        // cut off in between (the client left) leaves it to this.
        if let Err(e) = engine.flush_staged() {
            tracing::warn!("journal write failed: {e}");
        }
        if let Err(e) = engine.purge_expired(EXPIRE_BATCH) {
            tracing::warn!("removing expired keys failed: {e}");
        }
        super::events::emit_expired(&shared, &engine);
    }
}
