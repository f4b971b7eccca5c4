//! Live-notification fan-out with Pub/Sub.
//!
//! S subscribers (default 50), each on its own connection, SUBSCRIBE to
//! `events.orders`, and one more PSUBSCRIBEs `events.*`. A publisher then
//! PUBLISHes K messages (default 1000), the numbers `0` to `K-1`, to
//! `events.orders`; each PUBLISH answers how many subscriptions it reached,
//! which must be S + 1. Every subscriber reads until it has K messages and
//! checks that they came in order. The program prints the messages
//! delivered, the time from the first PUBLISH to the last delivery and the
//! rate, and exits non-zero on any loss, reordering or miscount.
//!
//! Pub/Sub is fire-and-forget: a subscriber gets what is published while it
//! is subscribed and nothing is stored; a stream with a consumer group is the
//! durable alternative. Another subscriber of `events.*` running meanwhile
//! changes PUBLISH's count and fails the check.
//!
//! The same channels carry keyspace notifications: after
//! `CONFIG SET notify-keyspace-events KEA`, each change to a key is published
//! on `__keyspace@0__:<key>` (the event, such as `lpush` or `xadd`, as the
//! message) and on `__keyevent@0__:<event>` (the key as the message), so an
//! application can watch a job queue or a stream through Pub/Sub
//! (`SUBSCRIBE __keyspace@0__:jobs`) instead of polling it.
//!
//! Start a server in one terminal and the example in another:
//!
//! ```sh
//! cargo run --release -- serve
//! cargo run --release --example fanout -- [URL [SUBSCRIBERS [MESSAGES]]]
//! ```
//!
//! `URL` defaults to `BROOK_URL`, else `redis://127.0.0.1:6379/`.

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_URL: &str = "redis://127.0.0.1:6379/";
const CHANNEL: &str = "events.orders";
const PATTERN: &str = "events.*";
/// How long a subscriber waits for its next message before giving up.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How a subscriber listens.
#[derive(Clone, Copy)]
enum Subscription {
    Channel,
    Pattern,
}

/// Argument `i` (after the URL at 0) as a count, or `default` when absent.
fn count_arg(args: &[String], i: usize, name: &str, default: usize) -> Result<usize, BoxError> {
    match args.get(i) {
        Some(s) => s
            .parse()
            .map_err(|_| format!("{name} must be a count, not {s:?}").into()),
        None => Ok(default),
    }
}

/// Subscribes, signals on `ready`, then reads `count` messages and checks
/// that they are `0..count` on `CHANNEL`; returns when the last arrived.
fn listen(
    client: redis::Client,
    how: Subscription,
    count: u64,
    ready: mpsc::Sender<()>,
) -> Result<Instant, BoxError> {
    let mut con = client.get_connection()?;
    let mut pubsub = con.as_pubsub();
    // Each returns once the server has confirmed the subscription.
    match how {
        Subscription::Channel => pubsub.subscribe(CHANNEL)?,
        Subscription::Pattern => pubsub.psubscribe(PATTERN)?,
    }
    pubsub.set_read_timeout(Some(READ_TIMEOUT))?;
    ready.send(())?;
    drop(ready);
    for expected in 0..count {
        let msg = pubsub.get_message()?;
        let n: u64 = msg.get_payload()?;
        if n != expected || msg.get_channel_name() != CHANNEL {
            return Err(format!(
                "got {n} on {}, expected {expected} on {CHANNEL}",
                msg.get_channel_name()
            )
            .into());
        }
    }
    Ok(Instant::now())
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = match args.first() {
        Some(url) => url.clone(),
        None => std::env::var("BROOK_URL").unwrap_or_else(|_| DEFAULT_URL.to_string()),
    };
    let subscribers = count_arg(&args, 1, "SUBSCRIBERS", 50)?;
    let messages = count_arg(&args, 2, "MESSAGES", 1000)? as u64;

    let client = redis::Client::open(url.as_str())?;
    let mut publisher = client.get_connection()?;

    // Subscribers 0..S listen on the channel, subscriber S on the pattern.
    let (ready_tx, ready_rx) = mpsc::channel();
    let listeners: Vec<_> = (0..=subscribers)
        .map(|i| {
            let how = if i < subscribers {
                Subscription::Channel
            } else {
                Subscription::Pattern
            };
            let (client, ready) = (client.clone(), ready_tx.clone());
            thread::spawn(move || listen(client, how, messages, ready))
        })
        .collect();
    drop(ready_tx);
    for _ in 0..=subscribers {
        ready_rx
            .recv()
            .map_err(|_| "a subscriber could not subscribe")?;
    }

    let expected = subscribers as i64 + 1;
    let mut miscounted = 0;
    let start = Instant::now();
    for n in 0..messages {
        let reached: i64 = redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(n)
            .query(&mut publisher)?;
        if reached != expected {
            miscounted += 1;
        }
    }
    let publishing = start.elapsed();

    let mut last = start;
    let mut failed = 0;
    for (i, t) in listeners.into_iter().enumerate() {
        match t.join().map_err(|_| "a subscriber panicked")? {
            Ok(done) => last = last.max(done),
            Err(e) => {
                eprintln!("subscriber {i}: {e}");
                failed += 1;
            }
        }
    }
    let elapsed = last - start;
    let complete = subscribers + 1 - failed;
    let delivered = messages * complete as u64;
    println!(
        "published {messages} messages in {publishing:.2?}; delivered {delivered} \
         to {complete} subscribers in {elapsed:.2?} ({:.0} messages/s)",
        delivered as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if failed == 0 && miscounted == 0 {
        println!("OK: all {complete} subscribers got all {messages} messages in order");
        Ok(())
    } else {
        eprintln!(
            "FAILED: {failed} subscribers incomplete or out of order; \
             {miscounted} PUBLISHes reached other than {expected} subscriptions"
        );
        std::process::exit(1);
    }
}
