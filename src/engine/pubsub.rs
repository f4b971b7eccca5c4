//! Pub/Sub: channels, patterns and shard channels, fanned out in memory.
//!
//! A subscriber is a [`Mailbox`]: a queue its connection drains. PUBLISH
//! builds one [`Message`] and hands each subscriber a reference to it, so
//! the payload is never copied per subscriber. What a mailbox holds is
//! counted; a subscriber that lets it grow past the hard limit, or stay
//! over the soft limit for too long, is marked overflowed and gets nothing
//! more (its connection closes it), so memory stays bounded whatever the
//! subscribers do.
//!
//! Nothing here is durable: Pub/Sub is fire and forget, as in Redis.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use tokio::sync::Notify;

use super::glob::glob_match;
use super::own;

/// Where a name is subscribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// SUBSCRIBE / PUBLISH.
    Channel,
    /// PSUBSCRIBE: glob patterns over channels.
    Pattern,
    /// SSUBSCRIBE / SPUBLISH.
    Shard,
}

/// One published message, shared by every subscriber it reaches.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    /// How it was subscribed to.
    pub space: Space,
    /// The pattern that matched (pattern subscriptions).
    pub pattern: Option<Bytes>,
    /// The channel's bytes, then the payload's: one copy of both, in one
    /// allocation, held by every message of the same PUBLISH.
    data: Bytes,
    /// Where the payload starts in `data`.
    split: usize,
}

impl Message {
    /// The message of `channel` and `payload`, copied: a slice of the
    /// request's buffer would pin all of it while the message waits in a
    /// slow mailbox.
    fn new(space: Space, channel: &[u8], payload: &[u8]) -> Message {
        let mut data = Vec::with_capacity(channel.len() + payload.len());
        data.extend_from_slice(channel);
        data.extend_from_slice(payload);
        Message {
            space,
            pattern: None,
            data: Bytes::from(data),
            split: channel.len(),
        }
    }

    /// The same channel and payload (not copied) for a pattern that
    /// matched.
    fn for_pattern(&self, pattern: &Bytes) -> Message {
        Message {
            space: Space::Pattern,
            pattern: Some(pattern.clone()),
            data: self.data.clone(),
            split: self.split,
        }
    }

    /// The channel.
    pub fn channel(&self) -> &[u8] {
        self.data.get(..self.split).unwrap_or_default()
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        self.data.get(self.split..).unwrap_or_default()
    }

    /// The payload as its own handle on the same bytes, to write it from
    /// where it is.
    pub fn payload_bytes(&self) -> Bytes {
        self.data.slice(self.split.min(self.data.len())..)
    }

    /// What it counts against a mailbox's limits: its bytes as sent.
    fn cost(&self) -> u64 {
        (self.pattern.as_ref().map_or(0, Bytes::len) + self.data.len() + 48) as u64
    }
}

/// Output limits of subscribers (`client-output-buffer-limit pubsub`):
/// 0 for none.
#[derive(Debug, Default)]
pub struct Limits {
    /// Bytes queued that disconnect at once.
    pub hard: AtomicU64,
    /// Bytes queued that disconnect after `soft_secs`.
    pub soft: AtomicU64,
    /// Seconds allowed over `soft`.
    pub soft_secs: AtomicU64,
}

/// A subscriber's queue of messages.
pub struct Mailbox {
    id: u64,
    limits: Arc<Limits>,
    /// Messages not taken yet, oldest first. The subscriber takes them
    /// all at once (one lock for a batch, where a channel costs atomic
    /// operations per message on both sides).
    queue: Mutex<VecDeque<Arc<Message>>>,
    /// Woken when a message lands in an empty queue.
    arrived: Notify,
    /// The inbox is gone: nothing more is queued.
    closed: AtomicBool,
    queued: AtomicU64,
    /// Milliseconds since the epoch when it went over the soft limit; 0
    /// when under it.
    soft_since: AtomicU64,
    overflowed: AtomicBool,
    /// Woken when it overflows.
    pub overflow: Notify,
}

/// The receiving end of a mailbox, held by the subscriber's connection.
pub struct Inbox {
    mailbox: Arc<Mailbox>,
    /// Taken from the queue, not handed out yet.
    batch: VecDeque<Arc<Message>>,
}

impl Drop for Inbox {
    fn drop(&mut self) {
        // A subscriber gone meanwhile unsubscribes on its way out; until
        // then nothing piles up for it.
        self.mailbox.closed.store(true, Ordering::Release);
        lock(&self.mailbox.queue).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Mailbox {
    /// The subscriber.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Bytes queued and not taken yet.
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// True once it went over its limits.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    fn set_overflowed(&self) {
        if !self.overflowed.swap(true, Ordering::AcqRel) {
            self.overflow.notify_one();
        }
    }

    /// Queues `msg` unless that breaks a limit; `now_ms` times the soft
    /// limit.
    fn deliver(&self, msg: &Arc<Message>, now_ms: u64) {
        if self.overflowed() {
            return;
        }
        let limits = &*self.limits;
        let queued = self.queued() + msg.cost();
        let hard = limits.hard.load(Ordering::Relaxed);
        if hard > 0 && queued > hard {
            self.set_overflowed();
            return;
        }
        let soft = limits.soft.load(Ordering::Relaxed);
        if soft > 0 && queued > soft {
            let since = match self.soft_since.compare_exchange(
                0,
                now_ms,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => now_ms,
                Err(t) => t,
            };
            let secs = limits.soft_secs.load(Ordering::Relaxed);
            if now_ms.saturating_sub(since) > secs * 1000 {
                self.set_overflowed();
                return;
            }
        }
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        // Counted before it can be taken (and subtracted).
        self.queued.fetch_add(msg.cost(), Ordering::AcqRel);
        let was_empty = {
            let mut q = lock(&self.queue);
            q.push_back(msg.clone());
            q.len() == 1
        };
        if was_empty {
            self.arrived.notify_one();
        }
    }
}

impl Inbox {
    /// Its mailbox, to subscribe with.
    pub fn mailbox(&self) -> &Arc<Mailbox> {
        &self.mailbox
    }

    /// Waits for the next message. Cancel-safe: a message is taken only
    /// when returned.
    pub async fn recv(&mut self) -> Option<Arc<Message>> {
        loop {
            if let Some(m) = self.try_recv() {
                return Some(m);
            }
            // A message that lands after the look above notifies (the
            // queue was empty), and the permit is kept for this wait.
            self.mailbox.arrived.notified().await;
        }
    }

    /// The next message, if one is queued.
    pub fn try_recv(&mut self) -> Option<Arc<Message>> {
        if self.batch.is_empty() {
            std::mem::swap(&mut self.batch, &mut *lock(&self.mailbox.queue));
        }
        let m = self.batch.pop_front()?;
        self.taken(&m);
        Some(m)
    }

    fn taken(&self, m: &Message) {
        let mb = &self.mailbox;
        let before = mb.queued.fetch_sub(m.cost(), Ordering::AcqRel);
        // Back under the soft limit: its clock restarts.
        if before.saturating_sub(m.cost()) <= mb.limits.soft.load(Ordering::Relaxed) {
            mb.soft_since.store(0, Ordering::Release);
        }
    }
}

type Subscribers = HashMap<u64, Arc<Mailbox>>;

/// Every subscription of the server.
#[derive(Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Bytes, Subscribers>>,
    patterns: RwLock<HashMap<Bytes, Subscribers>>,
    shard: RwLock<HashMap<Bytes, Subscribers>>,
    /// Subscribers' output limits.
    pub limits: Arc<Limits>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl PubSub {
    /// A mailbox for client `id`, under this server's limits, and its
    /// receiving end.
    pub fn mailbox(&self, id: u64) -> (Arc<Mailbox>, Inbox) {
        let mailbox = Arc::new(Mailbox {
            id,
            limits: self.limits.clone(),
            queue: Mutex::new(VecDeque::new()),
            arrived: Notify::new(),
            closed: AtomicBool::new(false),
            queued: AtomicU64::new(0),
            soft_since: AtomicU64::new(0),
            overflowed: AtomicBool::new(false),
            overflow: Notify::new(),
        });
        (
            mailbox.clone(),
            Inbox {
                mailbox,
                batch: VecDeque::new(),
            },
        )
    }

    fn space(&self, space: Space) -> &RwLock<HashMap<Bytes, Subscribers>> {
        match space {
            Space::Channel => &self.channels,
            Space::Pattern => &self.patterns,
            Space::Shard => &self.shard,
        }
    }

    /// Subscribes `mailbox` to `name`.
    pub fn subscribe(&self, space: Space, name: Bytes, mailbox: &Arc<Mailbox>) {
        write(self.space(space))
            .entry(own(&name))
            .or_default()
            .insert(mailbox.id, mailbox.clone());
    }

    /// Unsubscribes client `id` from `name`.
    pub fn unsubscribe(&self, space: Space, name: &[u8], id: u64) {
        let mut map = write(self.space(space));
        if let Some(subs) = map.get_mut(name) {
            subs.remove(&id);
            if subs.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Delivers `payload` to the subscribers of `channel` and of the
    /// patterns matching it (PUBLISH); the number of deliveries.
    pub fn publish(&self, channel: &Bytes, payload: &Bytes, now_ms: u64) -> usize {
        let msg = Message::new(Space::Channel, channel, payload);
        let (mut n, msg) = self.deliver(msg, now_ms);
        let patterns = read(&self.patterns);
        for (pattern, subs) in patterns.iter() {
            if !glob_match(pattern, channel, false) {
                continue;
            }
            let msg = Arc::new(msg.for_pattern(pattern));
            for mb in subs.values() {
                mb.deliver(&msg, now_ms);
            }
            n += subs.len();
        }
        n
    }

    /// Delivers `payload` to the subscribers of shard channel `channel`
    /// (SPUBLISH).
    pub fn spublish(&self, channel: &Bytes, payload: &Bytes, now_ms: u64) -> usize {
        self.deliver(Message::new(Space::Shard, channel, payload), now_ms)
            .0
    }

    /// Hands `msg` to the subscribers of its channel; how many, and the
    /// message (to share its bytes with the pattern subscribers').
    fn deliver(&self, msg: Message, now_ms: u64) -> (usize, Arc<Message>) {
        let msg = Arc::new(msg);
        let map = read(self.space(msg.space));
        let Some(subs) = map.get(msg.channel()) else {
            return (0, msg);
        };
        for mb in subs.values() {
            mb.deliver(&msg, now_ms);
        }
        (subs.len(), msg)
    }

    /// Channels (or shard channels) with subscribers, matching `pattern`
    /// when given (PUBSUB CHANNELS).
    pub fn active(&self, space: Space, pattern: Option<&[u8]>) -> Vec<Bytes> {
        read(self.space(space))
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect()
    }

    /// Subscribers of `name` (PUBSUB NUMSUB).
    pub fn count(&self, space: Space, name: &[u8]) -> usize {
        read(self.space(space)).get(name).map_or(0, HashMap::len)
    }

    /// Names with at least one subscriber (PUBSUB NUMPAT for patterns,
    /// INFO's pubsub_channels).
    pub fn names(&self, space: Space) -> usize {
        read(self.space(space)).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn one_message_reaches_every_subscriber_without_a_copy() {
        let ps = PubSub::default();
        let mut inboxes = Vec::new();
        for id in 0..10_000 {
            let (mb, inbox) = ps.mailbox(id);
            ps.subscribe(Space::Channel, b("news"), &mb);
            inboxes.push(inbox);
        }
        let (mb, mut pat) = ps.mailbox(1000);
        ps.subscribe(Space::Pattern, b("n*s"), &mb);
        ps.subscribe(Space::Pattern, b("x*"), &mb);
        let payload = Bytes::from(vec![7u8; 1000]);
        assert_eq!(ps.publish(&b("news"), &payload, 0), 10_001);
        let first = inboxes[0].try_recv().unwrap();
        for inbox in &mut inboxes[1..] {
            let m = inbox.try_recv().unwrap();
            // The same message, so the same payload bytes.
            assert!(Arc::ptr_eq(&m, &first));
            assert_eq!(m.payload().as_ptr(), first.payload().as_ptr());
            assert!(inbox.try_recv().is_none());
        }
        let m = pat.try_recv().unwrap();
        assert_eq!(m.pattern, Some(b("n*s")));
        assert_eq!(m.payload().as_ptr(), first.payload().as_ptr());
        assert!(pat.try_recv().is_none());
        assert_eq!(ps.publish(&b("other"), &payload, 0), 0);
        assert_eq!(ps.spublish(&b("news"), &payload, 0), 0);
        assert_eq!(ps.count(Space::Channel, b"news"), 10_000);
        assert_eq!(ps.names(Space::Pattern), 2);
        ps.unsubscribe(Space::Channel, b"news", 0);
        assert_eq!(ps.count(Space::Channel, b"news"), 9_999);
        assert_eq!(ps.active(Space::Channel, Some(b"n*")), vec![b("news")]);
    }

    #[test]
    fn a_subscriber_over_its_limits_overflows_and_gets_nothing_more() {
        let ps = PubSub::default();
        ps.limits.hard.store(10_000, Ordering::Relaxed);
        ps.limits.soft.store(5_000, Ordering::Relaxed);
        ps.limits.soft_secs.store(2, Ordering::Relaxed);
        let (mb, mut inbox) = ps.mailbox(1);
        ps.subscribe(Space::Channel, b("c"), &mb);
        let payload = Bytes::from(vec![0u8; 1000]);
        // Over the soft limit, within its seconds: still delivered.
        for _ in 0..6 {
            ps.publish(&b("c"), &payload, 1_000);
        }
        assert!(!mb.overflowed());
        // Drained: the soft clock restarts.
        while inbox.try_recv().is_some() {}
        assert_eq!(mb.queued(), 0);
        for _ in 0..6 {
            ps.publish(&b("c"), &payload, 10_000);
        }
        ps.publish(&b("c"), &payload, 11_000);
        assert!(!mb.overflowed());
        // Over the soft limit for more than 2 s.
        ps.publish(&b("c"), &payload, 12_001);
        assert!(mb.overflowed());
        let queued = mb.queued();
        ps.publish(&b("c"), &payload, 12_002);
        assert_eq!(mb.queued(), queued);
        // The hard limit at once.
        let (mb2, _inbox2) = ps.mailbox(2);
        ps.subscribe(Space::Channel, b("c"), &mb2);
        for _ in 0..9 {
            ps.publish(&b("c"), &payload, 20_000);
        }
        assert!(!mb2.overflowed());
        ps.publish(&b("c"), &payload, 20_000);
        assert!(mb2.overflowed());
        assert!(mb2.queued() <= 10_000);
        // A slow reader that stays over the soft limit is not saved by
        // taking a message now and then.
        let (mb3, mut inbox3) = ps.mailbox(3);
        ps.unsubscribe(Space::Channel, b"c", 2);
        ps.subscribe(Space::Channel, b("c"), &mb3);
        for _ in 0..6 {
            ps.publish(&b("c"), &payload, 30_000);
        }
        for t in 1..=4 {
            ps.publish(&b("c"), &payload, 30_000 + t * 500);
            assert!(inbox3.try_recv().is_some());
        }
        assert!(!mb3.overflowed());
        ps.publish(&b("c"), &payload, 32_500);
        assert!(mb3.overflowed());
    }
}
