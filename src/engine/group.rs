//! Consumer-group state: the groups of one stream, their consumers and the
//! pending entries list (PEL). Pure data; the stream's journal
//! ([`super::meta`]) is the only way it changes, so that a replay after a
//! restart rebuilds exactly what was there.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::id::StreamId;

/// One pending entry: delivered to a consumer and not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Name of the consumer that owns it.
    pub consumer: Bytes,
    /// Unix time in ms of the last delivery.
    pub delivered_ms: u64,
    /// How many times it was delivered.
    pub deliveries: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Consumer {
    /// Unix ms of its last interaction (read or claim attempt).
    pub seen_ms: u64,
    /// Unix ms of its last successful interaction (it got entries), if any.
    pub active_ms: Option<u64>,
    /// IDs of its pending entries.
    pub pending: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    /// Last ID delivered to the group with `>`.
    pub last_id: StreamId,
    /// Entries the group read (Redis's logical counter), if known.
    pub entries_read: Option<u64>,
    /// Pending entries by ID.
    pub pel: BTreeMap<StreamId, Pending>,
    /// Consumers by name.
    pub consumers: BTreeMap<Bytes, Consumer>,
}

impl Group {
    /// A new group positioned after `last_id`.
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group {
            last_id,
            entries_read,
            ..Group::default()
        }
    }

    /// Removes a pending entry from the PEL and its consumer.
    pub fn remove_pending(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&p.consumer) {
                    c.pending.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Sets a pending entry, moving it to `consumer` (created if missing).
    pub fn set_pending(
        &mut self,
        id: StreamId,
        consumer: &Bytes,
        delivered_ms: u64,
        deliveries: u64,
    ) {
        if let Some(old) = self.pel.get(&id) {
            if old.consumer != *consumer {
                if let Some(c) = self.consumers.get_mut(&old.consumer) {
                    c.pending.remove(&id);
                }
            }
        }
        // The name the consumer map holds, or a copy of its own (see
        // `own`), never a slice of the request.
        let name = match self.consumers.get_key_value(&consumer[..]) {
            Some((k, _)) => k.clone(),
            None => super::own(consumer),
        };
        self.consumers
            .entry(name.clone())
            .or_default()
            .pending
            .insert(id);
        self.pel.insert(
            id,
            Pending {
                consumer: name,
                delivered_ms,
                deliveries,
            },
        );
    }

    /// Deletes a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> u64 {
        let Some(c) = self.consumers.remove(name) else {
            return 0;
        };
        for id in &c.pending {
            self.pel.remove(id);
        }
        c.pending.len() as u64
    }
}
