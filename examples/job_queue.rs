//! A reliable job queue on Brook's lists (Redis's "reliable queue" pattern).
//!
//! Producers LPUSH jobs onto `jobs`. A worker takes one with
//! `BLMOVE jobs processing RIGHT LEFT 1`, which moves it into `processing`
//! in the same atomic step that hands it out (lists are journaled), and
//! acknowledges it when done with `LREM processing 1 <job>`.
//! A worker that crashes between the two leaves its job in `processing`,
//! never lost: recovery moves such jobs back onto the queue with
//! `LMOVE processing jobs RIGHT LEFT` until `processing` is empty. Delivery
//! is at least once; a job finished but not yet acknowledged at a crash
//! runs again. Recovery must run while no worker is active (or each worker
//! must have its own `processing` list), else it requeues jobs in progress.
//!
//! This program runs the pattern with N producer and M worker threads, then
//! checks that every produced job was processed exactly once. Its keys carry
//! the process id (`jq:<pid>:jobs`) so that runs do not mix; to exercise
//! recovery it first leaves a few jobs in `processing`, as a crashed worker
//! of an earlier run would have.
//!
//! Start a server in one terminal and the example in another:
//!
//! ```sh
//! cargo run --release -- serve
//! cargo run --release --example job_queue -- [URL [PRODUCERS [WORKERS [JOBS_EACH]]]]
//! ```
//!
//! `URL` defaults to `BROOK_URL`, else `redis://127.0.0.1:6379/`; by default
//! 2 producers push 1000 jobs each and 3 workers take them.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Instant;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DEFAULT_URL: &str = "redis://127.0.0.1:6379/";
/// Jobs the simulated crashed worker left in `processing`.
const ORPHANS: usize = 3;

/// The two lists of one run.
#[derive(Clone)]
struct Keys {
    jobs: String,
    processing: String,
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

/// Moves every job left in `processing` back onto the queue; returns how many.
fn recover(con: &mut redis::Connection, keys: &Keys) -> redis::RedisResult<usize> {
    let mut moved = 0;
    while redis::cmd("LMOVE")
        .arg(&keys.processing)
        .arg(&keys.jobs)
        .arg("RIGHT")
        .arg("LEFT")
        .query::<Option<String>>(con)?
        .is_some()
    {
        moved += 1;
    }
    Ok(moved)
}

/// Pushes `count` jobs named `job-<producer>-<n>`; returns their names.
fn produce(
    client: &redis::Client,
    keys: &Keys,
    producer: usize,
    count: usize,
) -> redis::RedisResult<Vec<String>> {
    let mut con = client.get_connection()?;
    let mut jobs = Vec::with_capacity(count);
    for n in 0..count {
        let job = format!("job-{producer}-{n}");
        redis::cmd("LPUSH")
            .arg(&keys.jobs)
            .arg(&job)
            .exec(&mut con)?;
        jobs.push(job);
    }
    Ok(jobs)
}

/// Takes and acknowledges jobs until the producers have finished and the
/// queue is empty; returns the jobs it acknowledged.
fn work(client: &redis::Client, keys: &Keys, done: &AtomicBool) -> redis::RedisResult<Vec<String>> {
    let mut con = client.get_connection()?;
    let mut handled = Vec::new();
    loop {
        // Read before blocking: if every push came before this BLMOVE, a
        // timeout means the queue is drained for good.
        let finished = done.load(Ordering::SeqCst);
        let job: Option<String> = redis::cmd("BLMOVE")
            .arg(&keys.jobs)
            .arg(&keys.processing)
            .arg("RIGHT")
            .arg("LEFT")
            .arg(1)
            .query(&mut con)?;
        let Some(job) = job else {
            if finished {
                return Ok(handled);
            }
            continue;
        };
        // The work itself goes here; this example only records the job.
        let acked: i64 = redis::cmd("LREM")
            .arg(&keys.processing)
            .arg(1)
            .arg(&job)
            .query(&mut con)?;
        // A job whose acknowledgement removed nothing stays unrecorded, so
        // the final check reports it missing.
        if acked == 1 {
            handled.push(job);
        }
    }
}

fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = match args.first() {
        Some(url) => url.clone(),
        None => std::env::var("BROOK_URL").unwrap_or_else(|_| DEFAULT_URL.to_string()),
    };
    let producers = count_arg(&args, 1, "PRODUCERS", 2)?;
    let workers = count_arg(&args, 2, "WORKERS", 3)?;
    let per_producer = count_arg(&args, 3, "JOBS_EACH", 1000)?;

    let client = redis::Client::open(url.as_str())?;
    let mut con = client.get_connection()?;
    let pid = std::process::id();
    let keys = Keys {
        jobs: format!("jq:{pid}:jobs"),
        processing: format!("jq:{pid}:processing"),
    };

    // The state a worker that crashed mid-job leaves behind.
    let mut produced: Vec<String> = (0..ORPHANS).map(|n| format!("job-crashed-{n}")).collect();
    redis::cmd("LPUSH")
        .arg(&keys.processing)
        .arg(&produced)
        .exec(&mut con)?;
    let recovered = recover(&mut con, &keys)?;
    println!("recovered {recovered} jobs from {}", keys.processing);

    let start = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let worker_threads: Vec<_> = (0..workers)
        .map(|_| {
            let (client, keys, done) = (client.clone(), keys.clone(), done.clone());
            thread::spawn(move || work(&client, &keys, &done))
        })
        .collect();
    let producer_threads: Vec<_> = (0..producers)
        .map(|p| {
            let (client, keys) = (client.clone(), keys.clone());
            thread::spawn(move || produce(&client, &keys, p, per_producer))
        })
        .collect();
    for t in producer_threads {
        produced.extend(t.join().map_err(|_| "a producer panicked")??);
    }
    done.store(true, Ordering::SeqCst);
    let mut processed: HashMap<String, usize> = HashMap::new();
    for t in worker_threads {
        for job in t.join().map_err(|_| "a worker panicked")?? {
            *processed.entry(job).or_default() += 1;
        }
    }
    let elapsed = start.elapsed();

    let queued: i64 = redis::cmd("LLEN").arg(&keys.jobs).query(&mut con)?;
    let unacked: i64 = redis::cmd("LLEN").arg(&keys.processing).query(&mut con)?;
    redis::cmd("DEL")
        .arg(&keys.jobs)
        .arg(&keys.processing)
        .exec(&mut con)?;

    let total: usize = processed.values().sum();
    println!(
        "produced {} jobs ({recovered} recovered, the rest from {producers} producers), \
         processed {total} with {workers} workers in {elapsed:.2?}",
        produced.len()
    );
    let missing = produced
        .iter()
        .filter(|j| !processed.contains_key(*j))
        .count();
    let twice = processed.values().filter(|&&n| n > 1).count();
    // Every produced job found in `processed` accounts for one key; the rest
    // were never produced.
    let unknown = processed.len() - (produced.len() - missing);
    if missing + twice + unknown == 0 && queued == 0 && unacked == 0 {
        println!("OK: every job was processed exactly once");
        Ok(())
    } else {
        eprintln!(
            "FAILED: {missing} missing, {twice} processed more than once, {unknown} unknown, \
             {queued} left queued, {unacked} left unacknowledged"
        );
        std::process::exit(1);
    }
}
