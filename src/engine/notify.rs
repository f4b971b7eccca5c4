//! Wake-ups for readers blocked on a key (XREAD BLOCK, XREADGROUP BLOCK):
//! a [`Watcher`] is taken before the read that found nothing, and completes
//! once the key is written after that. It is a `Future` for async callers
//! and has a blocking wait for threads; nothing polls.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;

#[derive(Default)]
struct Signal {
    generation: AtomicU64,
    wakers: Mutex<Vec<Waker>>,
    cv: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The signals of every watched key.
#[derive(Default)]
pub struct Watches {
    keys: Mutex<HashMap<(usize, Bytes), Arc<Signal>>>,
}

/// Completes once its key is written after the watcher was taken.
pub struct Watcher {
    sig: Arc<Signal>,
    seen: u64,
}

impl Watches {
    /// A watcher on `key` of database `db`.
    pub fn watch(&self, db: usize, key: &[u8]) -> Watcher {
        let mut keys = lock(&self.keys);
        if keys.len() > 1024 {
            keys.retain(|_, s| Arc::strong_count(s) > 1);
        }
        let sig = keys
            .entry((db, Bytes::copy_from_slice(key)))
            .or_default()
            .clone();
        let seen = sig.generation.load(Ordering::Acquire);
        Watcher { sig, seen }
    }

    /// Wakes every watcher of `key`.
    pub fn notify(&self, db: usize, key: &[u8]) {
        let sig = lock(&self.keys)
            .get(&(db, Bytes::copy_from_slice(key)))
            .cloned();
        if let Some(sig) = sig {
            sig.generation.fetch_add(1, Ordering::AcqRel);
            let wakers = std::mem::take(&mut *lock(&sig.wakers));
            for w in wakers {
                w.wake();
            }
            let _guard = lock(&sig.wakers);
            sig.cv.notify_all();
        }
    }
}

impl Watcher {
    /// True once the key was written.
    pub fn fired(&self) -> bool {
        self.sig.generation.load(Ordering::Acquire) != self.seen
    }

    /// Blocks the thread until the key is written or `timeout` passes;
    /// returns whether it was written.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = lock(&self.sig.wakers);
        while !self.fired() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = match self.sig.cv.wait_timeout(g, deadline - now) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }
}

impl Future for Watcher {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.fired() {
            return Poll::Ready(());
        }
        let mut w = lock(&self.sig.wakers);
        // Checked again under the lock `notify` takes: no lost wake-up.
        if self.fired() {
            return Poll::Ready(());
        }
        if !w.iter().any(|x| x.will_wake(cx.waker())) {
            w.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_wakes_a_blocked_thread() {
        let w = Arc::new(Watches::default());
        let watcher = w.watch(0, b"k");
        assert!(!watcher.wait_timeout(Duration::from_millis(5)));
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            w2.notify(0, b"other");
            w2.notify(0, b"k");
        });
        assert!(watcher.wait_timeout(Duration::from_secs(10)));
        t.join().unwrap();
        // A watcher taken after the write waits for the next one.
        assert!(!w.watch(0, b"k").fired());
    }
}
