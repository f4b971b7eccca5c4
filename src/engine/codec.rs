//! The small binary codec of the engine's records: LEB128 varints and
//! length-prefixed byte strings. Decoding never panics: short or malformed
//! input is a [`Malformed`] error, which callers report as corruption.

use bytes::Bytes;

/// Input that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_u64(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends a u128 as two varints, high half first.
pub fn put_u128(buf: &mut Vec<u8>, v: u128) {
    put_u64(buf, (v >> 64) as u64);
    put_u64(buf, v as u64);
}

/// Appends a length-prefixed byte string.
pub fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_u64(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

/// Bytes `put_u64(v)` takes.
pub fn u64_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A reader over an encoded buffer. Byte strings it returns are zero-copy
/// slices of the buffer.
pub struct Reader<B = Bytes> {
    buf: B,
    at: usize,
}

impl<B: AsRef<[u8]>> Reader<B> {
    /// Reads `buf` from its start.
    pub fn new(buf: B) -> Reader<B> {
        Reader { buf, at: 0 }
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.at >= self.buf.as_ref().len()
    }

    /// Bytes read so far.
    pub fn offset(&self) -> usize {
        self.at
    }

    /// Reads a varint.
    pub fn u64(&mut self) -> Result<u64, Malformed> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.as_ref().get(self.at).ok_or(Malformed)?;
            self.at += 1;
            if shift == 63 && b > 1 {
                return Err(Malformed);
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Malformed)
    }

    /// Reads a varint that must fit `usize` and be at most `max`.
    pub fn len(&mut self, max: usize) -> Result<usize, Malformed> {
        let v = self.u64()?;
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(Malformed)
    }

    /// Reads a u128 written by [`put_u128`].
    pub fn u128(&mut self) -> Result<u128, Malformed> {
        let hi = self.u64()?;
        let lo = self.u64()?;
        Ok(u128::from(hi) << 64 | u128::from(lo))
    }

    /// Reads a length-prefixed byte string; returns where it is in the
    /// buffer, without taking a handle on it.
    pub fn range(&mut self) -> Result<std::ops::Range<usize>, Malformed> {
        let n = self.u64()?;
        let left = self.buf.as_ref().len().saturating_sub(self.at);
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= left)
            .ok_or(Malformed)?;
        let r = self.at..self.at + n;
        self.at += n;
        Ok(r)
    }

    /// Reads one raw byte.
    pub fn byte(&mut self) -> Result<u8, Malformed> {
        let b = *self.buf.as_ref().get(self.at).ok_or(Malformed)?;
        self.at += 1;
        Ok(b)
    }
}

impl Reader<Bytes> {
    /// Reads a length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<Bytes, Malformed> {
        let r = self.range()?;
        Ok(self.buf.slice(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(a: u64, b: u128, s: Vec<u8>) {
            let mut buf = Vec::new();
            put_u64(&mut buf, a);
            prop_assert_eq!(buf.len(), u64_len(a));
            put_u128(&mut buf, b);
            put_bytes(&mut buf, &s);
            let mut r = Reader::new(Bytes::from(buf));
            prop_assert_eq!(r.u64(), Ok(a));
            prop_assert_eq!(r.u128(), Ok(b));
            prop_assert_eq!(r.bytes().map(|b| b.to_vec()), Ok(s));
            prop_assert!(r.is_empty());
        }

        #[test]
        fn garbage_never_panics(buf: Vec<u8>) {
            let mut r = Reader::new(Bytes::from(buf));
            while r.bytes().is_ok() && !r.is_empty() {}
        }
    }

    #[test]
    fn overlong_varints_are_malformed() {
        let mut r = Reader::new(Bytes::from_static(&[0xff; 11]));
        assert_eq!(r.u64(), Err(Malformed));
        let mut r = Reader::new(Bytes::from_static(&[0x80]));
        assert_eq!(r.u64(), Err(Malformed));
    }
}
