//! Consumer-group commands on a [`Stream`]: XGROUP, XREADGROUP, XACK,
//! XPENDING, XCLAIM, XAUTOCLAIM and the group parts of XINFO, with Redis
//! 7.2's semantics (including `entries-read`, `lag` and consumers'
//! `inactive`). Each change is one journal op.

use bytes::Bytes;

use super::entry::StreamEntry;
use super::group::{Group, Pending};
use super::id::StreamId;
use super::meta::{Cursor, Op, Touch};
use super::stream::{State, Stream, StreamInfo};
use crate::error::{EngineError, NoGroupForm};
use crate::storage::Commit;

/// Where XGROUP CREATE / SETID put a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStart {
    /// An explicit ID.
    Id(StreamId),
    /// `$`: the stream's top ID.
    Last,
}

/// Which entries XREADGROUP reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRead {
    /// `>`: entries never delivered to the group.
    New,
    /// An ID: the consumer's own pending entries after it.
    Pending(StreamId),
}

/// An entry as group reads return it: `None` when it was deleted from the
/// stream while pending.
pub type MaybeEntry = (StreamId, Option<Vec<(Bytes, Bytes)>>);

/// XPENDING's summary form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingSummary {
    /// Pending entries.
    pub count: u64,
    /// Smallest and largest pending ID.
    pub bounds: Option<(StreamId, StreamId)>,
    /// Consumers with pending entries, and how many.
    pub consumers: Vec<(Bytes, u64)>,
}

/// One row of XPENDING's extended form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    /// Entry ID.
    pub id: StreamId,
    /// Owner.
    pub consumer: Bytes,
    /// ms since the last delivery.
    pub idle_ms: u64,
    /// Deliveries.
    pub deliveries: u64,
}

/// XPENDING's extended-form filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingQuery {
    /// Only entries idle at least this long.
    pub min_idle_ms: Option<u64>,
    /// Inclusive start.
    pub start: StreamId,
    /// Inclusive end.
    pub end: StreamId,
    /// At most this many rows.
    pub count: usize,
    /// Only this consumer's entries.
    pub consumer: Option<Bytes>,
}

/// XCLAIM's options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClaimOptions {
    /// IDLE / TIME: the delivery time to set (default: now).
    pub delivery_ms: Option<u64>,
    /// RETRYCOUNT.
    pub retry_count: Option<u64>,
    /// FORCE: create PEL entries for existing entries that are not pending.
    pub force: bool,
    /// JUSTID: reply IDs only, do not count a delivery.
    pub just_id: bool,
    /// LASTID: move the group's last ID up to this.
    pub last_id: Option<StreamId>,
}

/// XAUTOCLAIM's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoClaim {
    /// Where the next call should start (0-0 when the scan reached the end).
    pub next: StreamId,
    /// Claimed entries (fields `None` with JUSTID).
    pub claimed: Vec<MaybeEntry>,
    /// Pending IDs whose entries were deleted; removed from the PEL.
    pub deleted: Vec<StreamId>,
}

/// XINFO GROUPS row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupInfo {
    /// Name.
    pub name: Bytes,
    /// Consumers.
    pub consumers: u64,
    /// PEL size.
    pub pending: u64,
    /// Last delivered ID.
    pub last_delivered_id: StreamId,
    /// Entries read, if known.
    pub entries_read: Option<u64>,
    /// Entries not yet delivered, if known.
    pub lag: Option<u64>,
}

/// XINFO CONSUMERS row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// Name.
    pub name: Bytes,
    /// Pending entries.
    pub pending: u64,
    /// ms since the last interaction.
    pub idle_ms: u64,
    /// ms since the last successful interaction; `None` (Redis: -1) if none.
    pub inactive_ms: Option<u64>,
}

/// A group as XINFO STREAM FULL reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupFull {
    /// What XINFO GROUPS reports.
    pub info: GroupInfo,
    /// The first PEL entries (at most the COUNT asked).
    pub pending: Vec<(StreamId, Pending)>,
    /// Every consumer.
    pub consumers: Vec<ConsumerFull>,
}

/// A consumer as XINFO STREAM FULL reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerFull {
    /// Name.
    pub name: Bytes,
    /// Last interaction (ms).
    pub seen_ms: u64,
    /// Last successful interaction (ms); `None` (Redis: -1) if none.
    pub active_ms: Option<u64>,
    /// Its pending entries.
    pub pel_count: u64,
    /// Its first pending entries (at most the COUNT asked): ID, last
    /// delivery time, deliveries.
    pub pending: Vec<(StreamId, u64, u64)>,
}

/// XINFO STREAM FULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFull {
    /// The stream's numbers.
    pub info: StreamInfo,
    /// radix-tree-keys.
    pub nodes: u64,
    /// The first entries (at most the COUNT asked).
    pub entries: Vec<StreamEntry>,
    /// Every group.
    pub groups: Vec<GroupFull>,
}

impl Stream {
    fn group<'a>(
        st: &'a State,
        key: &[u8],
        name: &[u8],
        form: NoGroupForm,
    ) -> Result<&'a Group, EngineError> {
        st.meta
            .groups
            .get(name)
            .ok_or_else(|| EngineError::no_group(key, name, form))
    }

    fn resolve_start(st: &State, start: GroupStart) -> StreamId {
        match start {
            GroupStart::Id(id) => id,
            GroupStart::Last => Stream::last_id_of(st),
        }
    }

    /// XGROUP CREATE.
    pub fn create_group(
        &self,
        name: &Bytes,
        start: GroupStart,
        entries_read: Option<u64>,
    ) -> Result<Vec<Commit>, EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        if st.meta.groups.contains_key(name) {
            return Err(EngineError::BusyGroup);
        }
        let cursor = Cursor {
            last_id: Self::resolve_start(&st, start),
            entries_read,
        };
        self.journal(
            &mut st,
            Op::GroupCreate {
                group: name.clone(),
                cursor,
            },
            &mut commits,
        )?;
        Ok(commits)
    }

    /// XGROUP SETID.
    pub fn set_group_id(
        &self,
        key: &[u8],
        name: &Bytes,
        start: GroupStart,
        entries_read: Option<u64>,
    ) -> Result<Vec<Commit>, EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        Self::group(&st, key, name, NoGroupForm::ForKey)?;
        let cursor = Cursor {
            last_id: Self::resolve_start(&st, start),
            entries_read,
        };
        self.journal(&mut st, update(name, Some(cursor), None), &mut commits)?;
        Ok(commits)
    }

    /// XGROUP DESTROY; true when the group existed.
    pub fn destroy_group(&self, name: &Bytes) -> Result<(bool, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        if !st.meta.groups.contains_key(name) {
            return Ok((false, commits));
        }
        self.journal(
            &mut st,
            Op::GroupDestroy {
                group: name.clone(),
            },
            &mut commits,
        )?;
        Ok((true, commits))
    }

    /// XGROUP CREATECONSUMER; true when it was created.
    pub fn create_consumer(
        &self,
        key: &[u8],
        group: &Bytes,
        consumer: &Bytes,
        now_ms: u64,
    ) -> Result<(bool, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        let g = Self::group(&st, key, group, NoGroupForm::ForKey)?;
        if g.consumers.contains_key(consumer) {
            return Ok((false, commits));
        }
        let touch = Touch {
            consumer: consumer.clone(),
            seen_ms: now_ms,
            active_ms: None,
        };
        self.journal(&mut st, update(group, None, Some(touch)), &mut commits)?;
        Ok((true, commits))
    }

    /// XGROUP DELCONSUMER; returns how many entries it had pending.
    pub fn delete_consumer(
        &self,
        key: &[u8],
        group: &Bytes,
        consumer: &Bytes,
    ) -> Result<(u64, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        let g = Self::group(&st, key, group, NoGroupForm::ForKey)?;
        let Some(c) = g.consumers.get(consumer) else {
            return Ok((0, commits));
        };
        let n = c.pending.len() as u64;
        let op = Op::ConsumerDelete {
            group: group.clone(),
            consumer: consumer.clone(),
        };
        self.journal(&mut st, op, &mut commits)?;
        Ok((n, commits))
    }

    /// Whether the entry `id` is in the stream.
    fn entry_exists(&self, st: &State, id: StreamId) -> Result<bool, EngineError> {
        if id.key() < st.meta.first || st.meta.deleted.contains(&id) {
            return Ok(false);
        }
        Ok(matches!(self.entries.first_ge(id.key())?, Some(r) if r.key == id.key()))
    }

    fn fetch(&self, st: &State, id: StreamId) -> Result<Option<StreamEntry>, EngineError> {
        Ok(self.range_locked(st, id, id, Some(1))?.pop())
    }

    /// Redis's `streamEstimateDistanceFromFirstEverEntry`: the logical
    /// number of `id` in the stream's history, when it can be known.
    fn estimate_read(st: &State, id: StreamId) -> Option<u64> {
        let added = Stream::entries_added_of(st);
        if added == 0 {
            return Some(0);
        }
        let last = Stream::last_id_of(st);
        if st.length == 0 && id <= last {
            return Some(added);
        }
        if id == last {
            return Some(added);
        } else if id > last {
            return None;
        }
        let first = StreamId::from_key(st.meta.first);
        let md = st.meta.max_deleted;
        if md == StreamId::MIN || md < first {
            if id < first {
                return Some(added.saturating_sub(st.length));
            } else if id == first {
                return Some(added.saturating_sub(st.length).saturating_add(1));
            }
        }
        None
    }

    /// Redis's `streamRangeHasTombstones(s, start, +)`.
    fn tombstones_after(st: &State, start: StreamId) -> bool {
        let md = st.meta.max_deleted;
        if st.length == 0 || md == StreamId::MIN {
            return false;
        }
        if StreamId::from_key(st.meta.first) > md {
            return false;
        }
        start <= md
    }

    fn lag(st: &State, g: &Group) -> Option<u64> {
        let added = Stream::entries_added_of(st);
        if added == 0 {
            return Some(0);
        }
        if let Some(read) = g.entries_read {
            if !Self::tombstones_after(st, g.last_id) {
                return Some(added.saturating_sub(read));
            }
        }
        Self::estimate_read(st, g.last_id).map(|r| added.saturating_sub(r))
    }

    /// XREADGROUP on this stream.
    #[allow(clippy::too_many_arguments)]
    pub fn read_group(
        &self,
        key: &[u8],
        group: &Bytes,
        consumer: &Bytes,
        read: GroupRead,
        count: Option<usize>,
        noack: bool,
        now_ms: u64,
    ) -> Result<(Vec<MaybeEntry>, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        let g = Self::group(&st, key, group, NoGroupForm::ReadGroup)?;
        let max = count.filter(|&c| c > 0);
        let mut out: Vec<MaybeEntry> = Vec::new();
        let mut upserts = Vec::new();
        let mut cursor = None;
        match read {
            GroupRead::New => {
                let from = g.last_id;
                let entries = match from.next() {
                    Some(s) => self.range_locked(&st, s, StreamId::MAX, max)?,
                    None => Vec::new(),
                };
                let mut c = Cursor {
                    last_id: g.last_id,
                    entries_read: g.entries_read,
                };
                for e in entries {
                    if e.id > c.last_id {
                        c.entries_read = match c.entries_read {
                            Some(n) if !Self::tombstones_after(&st, e.id) => {
                                Some(n.saturating_add(1))
                            }
                            _ if Stream::entries_added_of(&st) > 0 => {
                                Self::estimate_read(&st, e.id)
                            }
                            other => other,
                        };
                        c.last_id = e.id;
                    }
                    if !noack {
                        upserts.push((e.id, now_ms, 1));
                    }
                    out.push((e.id, Some(e.fields)));
                }
                if !out.is_empty() {
                    cursor = Some(c);
                }
            }
            GroupRead::Pending(after) => {
                // Nothing is after the largest ID.
                let pending: Vec<StreamId> = match (after.next(), g.consumers.get(consumer)) {
                    (Some(from), Some(c)) => c
                        .pending
                        .range(from..)
                        .take(max.unwrap_or(usize::MAX))
                        .copied()
                        .collect(),
                    _ => Vec::new(),
                };
                for id in pending {
                    match self.fetch(&st, id)? {
                        Some(e) => {
                            let n = g.pel.get(&id).map_or(0, |p| p.deliveries);
                            upserts.push((id, now_ms, n.saturating_add(1)));
                            out.push((id, Some(e.fields)));
                        }
                        None => out.push((id, None)),
                    }
                }
            }
        }
        let active = matches!(read, GroupRead::New) && !out.is_empty();
        let touch = Touch {
            consumer: consumer.clone(),
            seen_ms: now_ms,
            active_ms: active.then_some(now_ms),
        };
        // A read that found nothing for a known consumer changes only its
        // seen-time: journaled, but not worth waiting for (a poll loop
        // under `always` would fsync per empty poll).
        let idle_poll = out.is_empty() && g.consumers.contains_key(consumer);
        let op = Op::GroupUpdate {
            group: group.clone(),
            cursor,
            touch: Some(touch),
            upserts,
            removes: Vec::new(),
        };
        if idle_poll {
            self.journal(&mut st, op, &mut Vec::new())?;
        } else {
            self.journal(&mut st, op, &mut commits)?;
        }
        Ok((out, commits))
    }

    /// XACK; returns how many IDs were pending and are now acknowledged.
    /// A missing group acknowledges nothing (Redis replies 0).
    pub fn ack(&self, group: &Bytes, ids: &[StreamId]) -> Result<(u64, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        let Some(g) = st.meta.groups.get(group) else {
            return Ok((0, commits));
        };
        let mut removes: Vec<StreamId> = ids
            .iter()
            .copied()
            .filter(|id| g.pel.contains_key(id))
            .collect();
        removes.sort();
        removes.dedup();
        let n = removes.len() as u64;
        if n > 0 {
            let op = Op::GroupUpdate {
                group: group.clone(),
                cursor: None,
                touch: None,
                upserts: Vec::new(),
                removes,
            };
            self.journal(&mut st, op, &mut commits)?;
        }
        Ok((n, commits))
    }

    /// XPENDING's summary form.
    pub fn pending_summary(&self, key: &[u8], group: &[u8]) -> Result<PendingSummary, EngineError> {
        let st = self.lock();
        let g = Self::group(&st, key, group, NoGroupForm::KeyOrGroup)?;
        let bounds = match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(a), Some(b)) => Some((*a, *b)),
            _ => None,
        };
        Ok(PendingSummary {
            count: g.pel.len() as u64,
            bounds,
            consumers: g
                .consumers
                .iter()
                .filter(|(_, c)| !c.pending.is_empty())
                .map(|(n, c)| (n.clone(), c.pending.len() as u64))
                .collect(),
        })
    }

    /// XPENDING's extended form.
    pub fn pending_range(
        &self,
        key: &[u8],
        group: &[u8],
        q: &PendingQuery,
        now_ms: u64,
    ) -> Result<Vec<PendingRow>, EngineError> {
        let st = self.lock();
        let g = Self::group(&st, key, group, NoGroupForm::KeyOrGroup)?;
        let mut out = Vec::new();
        if q.start > q.end || q.count == 0 {
            return Ok(out);
        }
        let ids: Box<dyn Iterator<Item = &StreamId>> = match &q.consumer {
            Some(c) => match g.consumers.get(c) {
                Some(c) => Box::new(c.pending.range(q.start..=q.end)),
                None => return Ok(out),
            },
            None => Box::new(g.pel.range(q.start..=q.end).map(|(id, _)| id)),
        };
        for id in ids {
            let Some(p) = g.pel.get(id) else { continue };
            let idle = now_ms.saturating_sub(p.delivered_ms);
            if q.min_idle_ms.is_some_and(|m| idle < m) {
                continue;
            }
            out.push(PendingRow {
                id: *id,
                consumer: p.consumer.clone(),
                idle_ms: idle,
                deliveries: p.deliveries,
            });
            if out.len() >= q.count {
                break;
            }
        }
        Ok(out)
    }

    /// XCLAIM.
    #[allow(clippy::too_many_arguments)]
    pub fn claim(
        &self,
        key: &[u8],
        group: &Bytes,
        consumer: &Bytes,
        min_idle_ms: u64,
        ids: &[StreamId],
        opts: &ClaimOptions,
        now_ms: u64,
    ) -> Result<(Vec<MaybeEntry>, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        let g = Self::group(&st, key, group, NoGroupForm::KeyOrGroup)?;
        let cursor = opts.last_id.filter(|l| *l > g.last_id).map(|l| Cursor {
            last_id: l,
            entries_read: g.entries_read,
        });
        let delivery = opts.delivery_ms.unwrap_or(now_ms);
        let mut out = Vec::new();
        let mut upserts: Vec<(StreamId, u64, u64)> = Vec::new();
        let mut removes = Vec::new();
        for &id in ids {
            if upserts.iter().any(|u| u.0 == id) || removes.contains(&id) {
                // Redis applies a repeated ID twice; the second finds it
                // owned by this consumer with the new time.
                continue;
            }
            let pending = g.pel.get(&id);
            if !self.entry_exists(&st, id)? {
                if pending.is_some() {
                    removes.push(id);
                }
                continue;
            }
            let deliveries = match pending {
                Some(p) => {
                    if min_idle_ms > 0 && now_ms.saturating_sub(p.delivered_ms) < min_idle_ms {
                        continue;
                    }
                    p.deliveries
                }
                None if opts.force => 0,
                None => continue,
            };
            let n = match opts.retry_count {
                Some(r) => r,
                None if !opts.just_id => deliveries.saturating_add(1),
                None => deliveries,
            };
            upserts.push((id, delivery, n));
            if opts.just_id {
                out.push((id, None));
            } else {
                let e = self.fetch(&st, id)?;
                out.push((id, e.map(|e| e.fields)));
            }
        }
        let touch = (!upserts.is_empty()).then(|| Touch {
            consumer: consumer.clone(),
            seen_ms: now_ms,
            active_ms: Some(now_ms),
        });
        if cursor.is_some() || touch.is_some() || !removes.is_empty() {
            let op = Op::GroupUpdate {
                group: group.clone(),
                cursor,
                touch,
                upserts,
                removes,
            };
            self.journal(&mut st, op, &mut commits)?;
        }
        Ok((out, commits))
    }

    /// XAUTOCLAIM.
    #[allow(clippy::too_many_arguments)]
    pub fn auto_claim(
        &self,
        key: &[u8],
        group: &Bytes,
        consumer: &Bytes,
        min_idle_ms: u64,
        start: StreamId,
        count: u64,
        just_id: bool,
        now_ms: u64,
    ) -> Result<(AutoClaim, Vec<Commit>), EngineError> {
        let mut commits = Vec::new();
        let mut st = self.lock();
        let g = Self::group(&st, key, group, NoGroupForm::KeyOrGroup)?;
        let mut attempts = count.saturating_mul(10);
        let mut left = count;
        let mut claimed = Vec::new();
        let mut deleted = Vec::new();
        let mut upserts = Vec::new();
        let mut it = g.pel.range(start..).peekable();
        while attempts > 0 && left > 0 {
            let Some((&id, p)) = it.next() else { break };
            attempts -= 1;
            if !self.entry_exists(&st, id)? {
                deleted.push(id);
                left -= 1;
                continue;
            }
            if min_idle_ms > 0 && now_ms.saturating_sub(p.delivered_ms) < min_idle_ms {
                continue;
            }
            let n = if just_id {
                p.deliveries
            } else {
                p.deliveries + 1
            };
            upserts.push((id, now_ms, n));
            if just_id {
                claimed.push((id, None));
            } else {
                let e = self.fetch(&st, id)?;
                claimed.push((id, e.map(|e| e.fields)));
            }
            left -= 1;
        }
        let next = it.next().map_or(StreamId::MIN, |(id, _)| *id);
        let touch = (!upserts.is_empty()).then(|| Touch {
            consumer: consumer.clone(),
            seen_ms: now_ms,
            active_ms: Some(now_ms),
        });
        if touch.is_some() || !deleted.is_empty() {
            let op = Op::GroupUpdate {
                group: group.clone(),
                cursor: None,
                touch,
                upserts,
                removes: deleted.clone(),
            };
            self.journal(&mut st, op, &mut commits)?;
        }
        Ok((
            AutoClaim {
                next,
                claimed,
                deleted,
            },
            commits,
        ))
    }

    fn group_info(st: &State, name: &Bytes, g: &Group) -> GroupInfo {
        GroupInfo {
            name: name.clone(),
            consumers: g.consumers.len() as u64,
            pending: g.pel.len() as u64,
            last_delivered_id: g.last_id,
            entries_read: g.entries_read,
            lag: Self::lag(st, g),
        }
    }

    /// XINFO GROUPS.
    pub fn groups_info(&self) -> Vec<GroupInfo> {
        let st = self.lock();
        st.meta
            .groups
            .iter()
            .map(|(name, g)| Self::group_info(&st, name, g))
            .collect()
    }

    /// XINFO STREAM FULL: entries, PELs and each consumer's pending
    /// entries, each list at most `count` long (`None`: everything).
    pub fn info_full(&self, count: Option<usize>) -> Result<StreamFull, EngineError> {
        let nodes = self.node_count()?;
        let st = self.lock();
        let max = count.unwrap_or(usize::MAX);
        let entries = self.range_locked(&st, StreamId::MIN, StreamId::MAX, Some(max))?;
        let groups = st
            .meta
            .groups
            .iter()
            .map(|(name, g)| GroupFull {
                info: Self::group_info(&st, name, g),
                pending: g
                    .pel
                    .iter()
                    .take(max)
                    .map(|(id, p)| (*id, p.clone()))
                    .collect(),
                consumers: g
                    .consumers
                    .iter()
                    .map(|(cname, c)| ConsumerFull {
                        name: cname.clone(),
                        seen_ms: c.seen_ms,
                        active_ms: c.active_ms,
                        pel_count: c.pending.len() as u64,
                        pending: c
                            .pending
                            .iter()
                            .take(max)
                            .filter_map(|id| {
                                g.pel.get(id).map(|p| (*id, p.delivered_ms, p.deliveries))
                            })
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        let info = self.info_locked(&st);
        Ok(StreamFull {
            info,
            nodes,
            entries,
            groups,
        })
    }

    /// XINFO CONSUMERS.
    pub fn consumers_info(
        &self,
        key: &[u8],
        group: &[u8],
        now_ms: u64,
    ) -> Result<Vec<ConsumerInfo>, EngineError> {
        let st = self.lock();
        let g = Self::group(&st, key, group, NoGroupForm::ForKey)?;
        Ok(g.consumers
            .iter()
            .map(|(name, c)| ConsumerInfo {
                name: name.clone(),
                pending: c.pending.len() as u64,
                idle_ms: now_ms.saturating_sub(c.seen_ms),
                inactive_ms: c.active_ms.map(|a| now_ms.saturating_sub(a)),
            })
            .collect())
    }

    /// True when the group exists.
    pub fn has_group(&self, name: &[u8]) -> bool {
        self.lock().meta.groups.contains_key(name)
    }

    /// A copy of a group's state (XINFO STREAM FULL, tests).
    pub fn group_state(&self, name: &[u8]) -> Option<Group> {
        self.lock().meta.groups.get(name).cloned()
    }
}

fn update(group: &Bytes, cursor: Option<Cursor>, touch: Option<Touch>) -> Op {
    Op::GroupUpdate {
        group: group.clone(),
        cursor,
        touch,
        upserts: Vec::new(),
        removes: Vec::new(),
    }
}
