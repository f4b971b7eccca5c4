//! Per-stream settings, as Kafka has per-topic configs: fsync policy,
//! segment size, and retention by age and by bytes. A field left `None`
//! takes the engine's default. The catalog persists them with the key.

use super::codec::{self, Malformed, Reader};
use crate::config::{FsyncPolicy, LogConfig};

/// Settings of one stream; `None` means "the engine's default".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamSettings {
    /// When appends to this stream are durable (Redis's appendfsync).
    pub fsync: Option<FsyncPolicy>,
    /// Size at which the stream's entry segments roll (Kafka's
    /// `segment.bytes`); retention removes whole segments.
    pub segment_bytes: Option<u64>,
    /// Retention by age (Kafka's `retention.ms`): a segment whose entries'
    /// IDs are all older than this many milliseconds is removed. IDs are
    /// times, so the age is the entry ID's, not the file's.
    pub max_age_ms: Option<u64>,
    /// Retention by size (Kafka's `retention.bytes`): the oldest segments
    /// are removed while the entries take more bytes than this.
    pub max_bytes: Option<u64>,
}

const HAS_FSYNC: u64 = 1;
const HAS_SEGMENT: u64 = 2;
const HAS_AGE: u64 = 4;
const HAS_BYTES: u64 = 8;

fn fsync_code(p: FsyncPolicy) -> u64 {
    match p {
        FsyncPolicy::Always => 0,
        FsyncPolicy::EverySec => 1,
        FsyncPolicy::No => 2,
    }
}

impl StreamSettings {
    /// These settings where set, `defaults` elsewhere.
    pub fn or(self, defaults: StreamSettings) -> StreamSettings {
        StreamSettings {
            fsync: self.fsync.or(defaults.fsync),
            segment_bytes: self.segment_bytes.or(defaults.segment_bytes),
            max_age_ms: self.max_age_ms.or(defaults.max_age_ms),
            max_bytes: self.max_bytes.or(defaults.max_bytes),
        }
    }

    /// The config of the stream's entries log: `base` with the overrides.
    pub fn log_config(&self, base: &LogConfig) -> LogConfig {
        LogConfig {
            fsync: self.fsync.unwrap_or(base.fsync),
            segment_bytes: self.segment_bytes.unwrap_or(base.segment_bytes),
            ..base.clone()
        }
        .normalized()
    }

    /// True when a retention limit is set.
    pub fn has_retention(&self) -> bool {
        self.max_age_ms.is_some() || self.max_bytes.is_some()
    }

    /// Appends the encoding: a mask of the fields present, then each.
    pub fn encode_into(&self, b: &mut Vec<u8>) {
        let mut mask = 0;
        for (bit, on) in [
            (HAS_FSYNC, self.fsync.is_some()),
            (HAS_SEGMENT, self.segment_bytes.is_some()),
            (HAS_AGE, self.max_age_ms.is_some()),
            (HAS_BYTES, self.max_bytes.is_some()),
        ] {
            if on {
                mask |= bit;
            }
        }
        codec::put_u64(b, mask);
        if let Some(p) = self.fsync {
            codec::put_u64(b, fsync_code(p));
        }
        for v in [self.segment_bytes, self.max_age_ms, self.max_bytes]
            .into_iter()
            .flatten()
        {
            codec::put_u64(b, v);
        }
    }

    /// Reads what [`StreamSettings::encode_into`] wrote.
    pub fn decode(r: &mut Reader) -> Result<StreamSettings, Malformed> {
        let mask = r.u64()?;
        if mask & !(HAS_FSYNC | HAS_SEGMENT | HAS_AGE | HAS_BYTES) != 0 {
            return Err(Malformed);
        }
        let mut s = StreamSettings::default();
        if mask & HAS_FSYNC != 0 {
            s.fsync = Some(match r.u64()? {
                0 => FsyncPolicy::Always,
                1 => FsyncPolicy::EverySec,
                2 => FsyncPolicy::No,
                _ => return Err(Malformed),
            });
        }
        let mut field = |bit: u64| -> Result<Option<u64>, Malformed> {
            if mask & bit != 0 {
                Ok(Some(r.u64()?))
            } else {
                Ok(None)
            }
        };
        s.segment_bytes = field(HAS_SEGMENT)?;
        s.max_age_ms = field(HAS_AGE)?;
        s.max_bytes = field(HAS_BYTES)?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn round_trip_and_reject() {
        let all = StreamSettings {
            fsync: Some(FsyncPolicy::No),
            segment_bytes: Some(1 << 20),
            max_age_ms: Some(3_600_000),
            max_bytes: Some(0),
        };
        for s in [
            StreamSettings::default(),
            all,
            StreamSettings {
                max_bytes: Some(7),
                ..StreamSettings::default()
            },
        ] {
            let mut b = Vec::new();
            s.encode_into(&mut b);
            let mut r = Reader::new(Bytes::from(b));
            assert_eq!(StreamSettings::decode(&mut r), Ok(s));
            assert!(r.is_empty());
        }
        for bad in [&[16u8][..], &[1, 3], &[2], &[]] {
            let mut r = Reader::new(Bytes::copy_from_slice(bad));
            assert_eq!(StreamSettings::decode(&mut r), Err(Malformed));
        }
    }
}
