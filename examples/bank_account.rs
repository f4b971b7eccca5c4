//! An event-sourced bank account on Brook's embedded API.
//!
//! Each account is a stream of events (`opened`, `deposited`, `withdrawn`).
//! A command loads the account by replaying its stream, checks the business
//! rule (no overdraft), and appends the new event with the version it read
//! as the expected last ID: if another writer appended meanwhile, the
//! append fails with a conflict and the command retries on fresh state.
//!
//! `cargo run --release --example bank_account`

use std::sync::Arc;

use bytes::Bytes;

use brook::EngineError;
use brook::engine::client::{Consumer, Position};
use brook::engine::id::StreamId;
use brook::engine::keyspace::{Engine, EngineConfig};

#[derive(Debug, Default)]
struct Account {
    balance: i64,
    version: StreamId,
}

fn field(e: &brook::engine::entry::StreamEntry, name: &[u8]) -> Option<String> {
    e.fields
        .iter()
        .find(|(f, _)| f.as_ref() == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// Rebuilds an account by replaying its whole stream.
fn load(engine: &Arc<Engine>, id: &str) -> Result<Account, EngineError> {
    let mut acc = Account::default();
    let mut c = Consumer::new(engine.clone(), id.as_bytes(), Position::Beginning);
    loop {
        let batch = c.poll(1000)?;
        if batch.is_empty() {
            return Ok(acc);
        }
        for e in &batch {
            let amount: i64 = field(e, b"amount")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0);
            match field(e, b"type").as_deref() {
                Some("deposited") => acc.balance += amount,
                Some("withdrawn") => acc.balance -= amount,
                _ => {}
            }
            acc.version = e.id;
        }
    }
}

fn event(kind: &str, amount: i64) -> Vec<(Bytes, Bytes)> {
    vec![
        (Bytes::from_static(b"type"), Bytes::from(kind.to_string())),
        (
            Bytes::from_static(b"amount"),
            Bytes::from(amount.to_string()),
        ),
    ]
}

/// Withdraws if the balance allows, retrying on concurrent appends.
fn withdraw(engine: &Arc<Engine>, id: &str, amount: i64) -> Result<bool, EngineError> {
    loop {
        let acc = load(engine, id)?;
        if acc.balance < amount {
            return Ok(false);
        }
        match engine.produce(
            id.as_bytes(),
            &event("withdrawn", amount),
            Some(acc.version),
        ) {
            Ok(_) => return Ok(true),
            Err(EngineError::Conflict { actual, .. }) => {
                println!("  conflict: the account moved to {actual}, retrying");
            }
            Err(e) => return Err(e),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let engine = Arc::new(Engine::open(dir.path(), EngineConfig::default())?);
    engine.produce(b"acct-1", &event("opened", 0), Some(StreamId::MIN))?;
    let v = load(&engine, "acct-1")?.version;
    engine.produce(b"acct-1", &event("deposited", 100), Some(v))?;

    // Two tellers withdraw 70 each at once: exactly one may succeed.
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let engine = engine.clone();
            std::thread::spawn(move || {
                let ok = withdraw(&engine, "acct-1", 70);
                println!("teller {t}: withdraw 70 -> {ok:?}");
                ok
            })
        })
        .collect();
    let results: Vec<bool> = handles
        .into_iter()
        .map(|h| h.join().expect("teller thread").unwrap_or(false))
        .collect();
    assert_eq!(results.iter().filter(|ok| **ok).count(), 1);

    // Restart: the state is rebuilt by replay from disk.
    drop(engine);
    let engine = Arc::new(Engine::open(dir.path(), EngineConfig::default())?);
    let acc = load(&engine, "acct-1")?;
    println!(
        "after restart: balance {} at version {}",
        acc.balance, acc.version
    );
    assert_eq!(acc.balance, 30);
    Ok(())
}
