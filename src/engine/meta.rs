//! A stream's metadata journal: everything about a stream that is not an
//! entry. It is a second log beside the entries log (`<name>.m`), whose
//! records are [`Op`]s keyed by a sequence number; replaying them in order
//! over the last [`Op::Snapshot`] rebuilds [`Meta`] exactly.
//!
//! Invariants:
//! - Each op carries `dep`, the entries log's last key when it was written;
//!   recovery stops at the first op whose `dep` is above the entries log's
//!   recovered last key, so metadata is never ahead of the entries it
//!   points to, whatever order the two files reached the disk in.
//! - A snapshot is the first record of a segment; after it is written the
//!   older segments are dropped.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

use super::codec::{self, Malformed, Reader};
use super::group::Group;
use super::id::StreamId;
use super::own;

/// Kind byte of a snapshot record in the journal.
pub const KIND_SNAPSHOT: u8 = 1;
/// Kind byte of every other op.
pub const KIND_OP: u8 = 2;

/// The persisted metadata of a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Logical start: entries with lower keys are trimmed.
    pub first: u128,
    /// Deleted (XDEL) IDs at or above `first`.
    pub deleted: BTreeSet<StreamId>,
    /// Largest ID ever deleted.
    pub max_deleted: StreamId,
    /// Top ID set by XSETID (the stream's last ID is the larger of this and
    /// its last entry).
    pub setid_last: StreamId,
    /// `entries-added` minus the number of entries ever appended.
    pub added_adjust: i64,
    /// Start ID of the last tail node Redis would have freed.
    pub removed_node: Option<StreamId>,
    /// Consumer groups by name.
    pub groups: BTreeMap<Bytes, Group>,
}

/// Where a group's cursor moves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// New last-delivered ID.
    pub last_id: StreamId,
    /// New entries-read counter.
    pub entries_read: Option<u64>,
}

/// A consumer's timestamps after an interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touch {
    /// Consumer name (created if missing).
    pub consumer: Bytes,
    /// New seen time.
    pub seen_ms: u64,
    /// New active time, when the interaction succeeded.
    pub active_ms: Option<u64>,
}

/// One change to a stream's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// The whole state.
    Snapshot(Box<Meta>),
    /// XDEL: these IDs were deleted; the logical start moved to `first`.
    Delete {
        /// IDs that existed and are now deleted.
        ids: Vec<StreamId>,
        /// New logical start.
        first: u128,
        /// The tail node this freed, if any.
        removed_node: Option<StreamId>,
    },
    /// Trimming moved the logical start.
    Trim {
        /// New logical start.
        first: u128,
        /// The tail node this freed, if any.
        removed_node: Option<StreamId>,
    },
    /// XSETID.
    SetId {
        /// New top ID.
        last: StreamId,
        /// New `added_adjust`.
        added_adjust: i64,
        /// New max deleted ID.
        max_deleted: StreamId,
    },
    /// XGROUP CREATE.
    GroupCreate {
        /// Group name.
        group: Bytes,
        /// Initial cursor.
        cursor: Cursor,
    },
    /// XGROUP DESTROY.
    GroupDestroy {
        /// Group name.
        group: Bytes,
    },
    /// XGROUP DELCONSUMER.
    ConsumerDelete {
        /// Group name.
        group: Bytes,
        /// Consumer name.
        consumer: Bytes,
    },
    /// Any other group change: XGROUP SETID / CREATECONSUMER, XREADGROUP,
    /// XACK, XCLAIM, XAUTOCLAIM.
    GroupUpdate {
        /// Group name.
        group: Bytes,
        /// New cursor, if it moved.
        cursor: Option<Cursor>,
        /// Consumer timestamps, if a consumer interacted.
        touch: Option<Touch>,
        /// Pending entries set for `touch.consumer`: (id, delivery ms,
        /// delivery count).
        upserts: Vec<(StreamId, u64, u64)>,
        /// Pending entries removed.
        removes: Vec<StreamId>,
    },
}

impl Meta {
    /// Applies an op. Live changes and replay both go through here.
    pub fn apply(&mut self, op: Op) {
        match op {
            Op::Snapshot(m) => *self = *m,
            Op::Delete {
                ids,
                first,
                removed_node,
            } => {
                for id in ids {
                    self.max_deleted = self.max_deleted.max(id);
                    self.deleted.insert(id);
                }
                self.cut(first, removed_node);
            }
            Op::Trim {
                first,
                removed_node,
            } => self.cut(first, removed_node),
            Op::SetId {
                last,
                added_adjust,
                max_deleted,
            } => {
                self.setid_last = last;
                self.added_adjust = added_adjust;
                self.max_deleted = max_deleted;
            }
            Op::GroupCreate { group, cursor } => {
                self.groups
                    .insert(own(&group), Group::new(cursor.last_id, cursor.entries_read));
            }
            Op::GroupDestroy { group } => {
                self.groups.remove(&group);
            }
            Op::ConsumerDelete { group, consumer } => {
                if let Some(g) = self.groups.get_mut(&group) {
                    g.delete_consumer(&consumer);
                }
            }
            Op::GroupUpdate {
                group,
                cursor,
                touch,
                upserts,
                removes,
            } => {
                let Some(g) = self.groups.get_mut(&group) else {
                    return;
                };
                if let Some(c) = cursor {
                    g.last_id = c.last_id;
                    g.entries_read = c.entries_read;
                }
                for id in removes {
                    g.remove_pending(id);
                }
                if let Some(t) = touch {
                    let c = match g.consumers.get_mut(&t.consumer[..]) {
                        Some(c) => c,
                        None => g.consumers.entry(own(&t.consumer)).or_default(),
                    };
                    c.seen_ms = t.seen_ms;
                    if t.active_ms.is_some() {
                        c.active_ms = t.active_ms;
                    }
                    for (id, ms, n) in upserts {
                        g.set_pending(id, &t.consumer, ms, n);
                    }
                }
            }
        }
    }

    /// What XDEL and trims share: a new logical start, and maybe a freed
    /// tail node.
    fn cut(&mut self, first: u128, removed_node: Option<StreamId>) {
        self.set_first(first);
        if removed_node.is_some() {
            self.removed_node = removed_node;
        }
    }

    /// Moves the logical start up to `first`, forgetting deletions below.
    pub fn set_first(&mut self, first: u128) {
        if first > self.first {
            self.first = first;
            let keep = self.deleted.split_off(&StreamId::from_key(first));
            self.deleted = keep;
        }
    }
}

fn put_id(b: &mut Vec<u8>, id: StreamId) {
    codec::put_u64(b, id.ms);
    codec::put_u64(b, id.seq);
}

fn get_id(r: &mut Reader) -> Result<StreamId, Malformed> {
    Ok(StreamId::new(r.u64()?, r.u64()?))
}

fn put_opt_u64(b: &mut Vec<u8>, v: Option<u64>) {
    match v {
        None => codec::put_u64(b, 0),
        Some(v) => {
            codec::put_u64(b, 1);
            codec::put_u64(b, v);
        }
    }
}

fn get_opt_u64(r: &mut Reader) -> Result<Option<u64>, Malformed> {
    match r.u64()? {
        0 => Ok(None),
        1 => Ok(Some(r.u64()?)),
        _ => Err(Malformed),
    }
}

fn put_opt_id(b: &mut Vec<u8>, v: Option<StreamId>) {
    match v {
        None => codec::put_u64(b, 0),
        Some(id) => {
            codec::put_u64(b, 1);
            put_id(b, id);
        }
    }
}

fn get_opt_id(r: &mut Reader) -> Result<Option<StreamId>, Malformed> {
    match r.u64()? {
        0 => Ok(None),
        1 => Ok(Some(get_id(r)?)),
        _ => Err(Malformed),
    }
}

fn put_ids(b: &mut Vec<u8>, ids: &[StreamId]) {
    codec::put_u64(b, ids.len() as u64);
    for id in ids {
        put_id(b, *id);
    }
}

fn get_ids(r: &mut Reader, max: usize) -> Result<Vec<StreamId>, Malformed> {
    let n = r.len(max)?;
    (0..n).map(|_| get_id(r)).collect()
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_cursor(b: &mut Vec<u8>, c: &Cursor) {
    put_id(b, c.last_id);
    put_opt_u64(b, c.entries_read);
}

fn get_cursor(r: &mut Reader) -> Result<Cursor, Malformed> {
    Ok(Cursor {
        last_id: get_id(r)?,
        entries_read: get_opt_u64(r)?,
    })
}

fn put_group(b: &mut Vec<u8>, g: &Group) {
    put_cursor(
        b,
        &Cursor {
            last_id: g.last_id,
            entries_read: g.entries_read,
        },
    );
    codec::put_u64(b, g.consumers.len() as u64);
    for (name, c) in &g.consumers {
        codec::put_bytes(b, name);
        codec::put_u64(b, c.seen_ms);
        put_opt_u64(b, c.active_ms);
        codec::put_u64(b, c.pending.len() as u64);
        for id in &c.pending {
            put_id(b, *id);
            // Every consumer's pending ID is in the PEL (Group keeps them
            // in step); a missing one is written as never delivered.
            let (ms, n) = g
                .pel
                .get(id)
                .map_or((0, 0), |p| (p.delivered_ms, p.deliveries));
            codec::put_u64(b, ms);
            codec::put_u64(b, n);
        }
    }
}

fn get_group(r: &mut Reader, max: usize) -> Result<Group, Malformed> {
    let cur = get_cursor(r)?;
    let mut g = Group::new(cur.last_id, cur.entries_read);
    let nc = r.len(max)?;
    for _ in 0..nc {
        let name = r.bytes()?;
        let seen_ms = r.u64()?;
        let active_ms = get_opt_u64(r)?;
        let c = g.consumers.entry(own(&name)).or_default();
        c.seen_ms = seen_ms;
        c.active_ms = active_ms;
        let np = r.len(max)?;
        for _ in 0..np {
            let id = get_id(r)?;
            let ms = r.u64()?;
            let n = r.u64()?;
            g.set_pending(id, &name, ms, n);
        }
    }
    Ok(g)
}

fn put_meta(b: &mut Vec<u8>, m: &Meta) {
    codec::put_u128(b, m.first);
    codec::put_u64(b, m.deleted.len() as u64);
    for id in &m.deleted {
        put_id(b, *id);
    }
    put_id(b, m.max_deleted);
    put_id(b, m.setid_last);
    codec::put_u64(b, zigzag(m.added_adjust));
    put_opt_id(b, m.removed_node);
    codec::put_u64(b, m.groups.len() as u64);
    for (name, g) in &m.groups {
        codec::put_bytes(b, name);
        put_group(b, g);
    }
}

/// Encodes a snapshot of `m` with its `dep` (without cloning `m`); returns
/// the record kind.
pub fn snapshot_into(b: &mut Vec<u8>, dep: u128, m: &Meta) -> u8 {
    b.clear();
    codec::put_u128(b, dep);
    put_meta(b, m);
    KIND_SNAPSHOT
}

const TAG_DELETE: u8 = 1;
const TAG_TRIM: u8 = 2;
const TAG_SETID: u8 = 3;
const TAG_GROUP_CREATE: u8 = 5;
const TAG_GROUP_DESTROY: u8 = 6;
const TAG_CONSUMER_DELETE: u8 = 7;
const TAG_GROUP_UPDATE: u8 = 8;

impl Op {
    /// Encodes the op with its `dep`; returns the record kind.
    pub fn encode_into(&self, b: &mut Vec<u8>, dep: u128) -> u8 {
        b.clear();
        codec::put_u128(b, dep);
        match self {
            Op::Snapshot(m) => {
                put_meta(b, m);
                return KIND_SNAPSHOT;
            }
            Op::Delete {
                ids,
                first,
                removed_node,
            } => {
                b.push(TAG_DELETE);
                put_ids(b, ids);
                codec::put_u128(b, *first);
                put_opt_id(b, *removed_node);
            }
            Op::Trim {
                first,
                removed_node,
            } => {
                b.push(TAG_TRIM);
                codec::put_u128(b, *first);
                put_opt_id(b, *removed_node);
            }
            Op::SetId {
                last,
                added_adjust,
                max_deleted,
            } => {
                b.push(TAG_SETID);
                put_id(b, *last);
                codec::put_u64(b, zigzag(*added_adjust));
                put_id(b, *max_deleted);
            }
            Op::GroupCreate { group, cursor } => {
                b.push(TAG_GROUP_CREATE);
                codec::put_bytes(b, group);
                put_cursor(b, cursor);
            }
            Op::GroupDestroy { group } => {
                b.push(TAG_GROUP_DESTROY);
                codec::put_bytes(b, group);
            }
            Op::ConsumerDelete { group, consumer } => {
                b.push(TAG_CONSUMER_DELETE);
                codec::put_bytes(b, group);
                codec::put_bytes(b, consumer);
            }
            Op::GroupUpdate {
                group,
                cursor,
                touch,
                upserts,
                removes,
            } => {
                b.push(TAG_GROUP_UPDATE);
                codec::put_bytes(b, group);
                match cursor {
                    None => codec::put_u64(b, 0),
                    Some(c) => {
                        codec::put_u64(b, 1);
                        put_cursor(b, c);
                    }
                }
                match touch {
                    None => codec::put_u64(b, 0),
                    Some(t) => {
                        codec::put_u64(b, 1);
                        codec::put_bytes(b, &t.consumer);
                        codec::put_u64(b, t.seen_ms);
                        put_opt_u64(b, t.active_ms);
                    }
                }
                codec::put_u64(b, upserts.len() as u64);
                for (id, ms, n) in upserts {
                    put_id(b, *id);
                    codec::put_u64(b, *ms);
                    codec::put_u64(b, *n);
                }
                put_ids(b, removes);
            }
        }
        KIND_OP
    }

    /// Decodes a journal record; returns its `dep` and the op.
    pub fn decode(kind: u8, payload: Bytes) -> Result<(u128, Op), Malformed> {
        let max = payload.len();
        let mut r = Reader::new(payload);
        let dep = r.u128()?;
        let op = match kind {
            KIND_SNAPSHOT => {
                let first = r.u128()?;
                let deleted = get_ids(&mut r, max)?.into_iter().collect();
                let max_deleted = get_id(&mut r)?;
                let setid_last = get_id(&mut r)?;
                let added_adjust = unzigzag(r.u64()?);
                let removed_node = get_opt_id(&mut r)?;
                let ng = r.len(max)?;
                let mut groups = BTreeMap::new();
                for _ in 0..ng {
                    let name = r.bytes()?;
                    groups.insert(name, get_group(&mut r, max)?);
                }
                Op::Snapshot(Box::new(Meta {
                    first,
                    deleted,
                    max_deleted,
                    setid_last,
                    added_adjust,
                    removed_node,
                    groups,
                }))
            }
            KIND_OP => match r.byte()? {
                TAG_DELETE => Op::Delete {
                    ids: get_ids(&mut r, max)?,
                    first: r.u128()?,
                    removed_node: get_opt_id(&mut r)?,
                },
                TAG_TRIM => Op::Trim {
                    first: r.u128()?,
                    removed_node: get_opt_id(&mut r)?,
                },
                TAG_SETID => Op::SetId {
                    last: get_id(&mut r)?,
                    added_adjust: unzigzag(r.u64()?),
                    max_deleted: get_id(&mut r)?,
                },
                TAG_GROUP_CREATE => Op::GroupCreate {
                    group: r.bytes()?,
                    cursor: get_cursor(&mut r)?,
                },
                TAG_GROUP_DESTROY => Op::GroupDestroy { group: r.bytes()? },
                TAG_CONSUMER_DELETE => Op::ConsumerDelete {
                    group: r.bytes()?,
                    consumer: r.bytes()?,
                },
                TAG_GROUP_UPDATE => {
                    let group = r.bytes()?;
                    let cursor = match r.u64()? {
                        0 => None,
                        1 => Some(get_cursor(&mut r)?),
                        _ => return Err(Malformed),
                    };
                    let touch = match r.u64()? {
                        0 => None,
                        1 => Some(Touch {
                            consumer: r.bytes()?,
                            seen_ms: r.u64()?,
                            active_ms: get_opt_u64(&mut r)?,
                        }),
                        _ => return Err(Malformed),
                    };
                    let n = r.len(max)?;
                    let mut upserts = Vec::with_capacity(n);
                    for _ in 0..n {
                        upserts.push((get_id(&mut r)?, r.u64()?, r.u64()?));
                    }
                    let removes = get_ids(&mut r, max)?;
                    if !upserts.is_empty() && touch.is_none() {
                        return Err(Malformed);
                    }
                    Op::GroupUpdate {
                        group,
                        cursor,
                        touch,
                        upserts,
                        removes,
                    }
                }
                _ => return Err(Malformed),
            },
            _ => return Err(Malformed),
        };
        if !r.is_empty() {
            return Err(Malformed);
        }
        Ok((dep, op))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn ops_round_trip_and_snapshot_equals_replay() {
        let ops = vec![
            Op::GroupCreate {
                group: b("g"),
                cursor: Cursor {
                    last_id: StreamId::new(0, 0),
                    entries_read: Some(0),
                },
            },
            Op::GroupUpdate {
                group: b("g"),
                cursor: Some(Cursor {
                    last_id: StreamId::new(5, 1),
                    entries_read: Some(2),
                }),
                touch: Some(Touch {
                    consumer: b("alice"),
                    seen_ms: 100,
                    active_ms: Some(100),
                }),
                upserts: vec![(StreamId::new(5, 0), 100, 1), (StreamId::new(5, 1), 100, 1)],
                removes: vec![],
            },
            Op::Delete {
                ids: vec![StreamId::new(3, 0)],
                first: StreamId::new(2, 0).key(),
                removed_node: None,
            },
            Op::SetId {
                last: StreamId::new(9, 9),
                added_adjust: -3,
                max_deleted: StreamId::new(3, 0),
            },
            Op::GroupUpdate {
                group: b("g"),
                cursor: None,
                touch: Some(Touch {
                    consumer: b("bob"),
                    seen_ms: 200,
                    active_ms: None,
                }),
                upserts: vec![(StreamId::new(5, 1), 200, 2)],
                removes: vec![StreamId::new(5, 0)],
            },
            Op::Trim {
                first: StreamId::new(4, 0).key(),
                removed_node: Some(StreamId::new(1, 0)),
            },
            Op::ConsumerDelete {
                group: b("g"),
                consumer: b("alice"),
            },
        ];
        let mut m = Meta::default();
        let mut buf = Vec::new();
        for (i, op) in ops.into_iter().enumerate() {
            let kind = op.encode_into(&mut buf, i as u128);
            let (dep, back) = Op::decode(kind, Bytes::from(buf.clone())).unwrap();
            assert_eq!((dep, &back), (i as u128, &op));
            m.apply(back);
        }
        let g = &m.groups[&b("g")];
        assert_eq!(g.pel.len(), 1);
        assert_eq!(g.pel[&StreamId::new(5, 1)].consumer, b("bob"));
        assert!(m.deleted.is_empty(), "trimmed away");
        let kind = Op::Snapshot(Box::new(m.clone())).encode_into(&mut buf, 7);
        let (_, snap) = Op::decode(kind, Bytes::from(buf.clone())).unwrap();
        let mut m2 = Meta::default();
        m2.apply(snap);
        assert_eq!(m2, m);
        for cut in 0..buf.len() {
            let _ = Op::decode(kind, Bytes::copy_from_slice(&buf[..cut]));
        }
    }
}
