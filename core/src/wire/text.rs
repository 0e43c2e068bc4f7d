//! `key=value` text carried in Login and Text PDU data segments (RFC 7143 §6.1 format, §5.2
//! limits, §11.10.2 / §11.12.2 the C bit that lets text span several PDUs).
//!
//! - [`TextReader`] walks a complete, reassembled text buffer pair by pair.
//! - [`TextAssembler`] reassembles the data segments of PDUs sent with the C (continue) bit.
//! - [`TextWriter`] appends pairs into a caller buffer.
//! - [`TextSegmenter`] cuts outgoing text into data segments of at most MaxRecvDataSegmentLength.

use core::fmt;

/// Longest key name, in bytes (RFC 7143 §6.1: "key names MUST NOT exceed 63 bytes").
pub const MAX_KEY_LEN: usize = 63;

/// Longest value, in bytes, unless a key says otherwise (RFC 7143 §6.1: 255 bytes).
pub const MAX_VALUE_LEN: usize = 255;

/// Text every implementation must accept in one negotiation sequence (RFC 7143 §6.1: at least
/// 8192 bytes of key=value data); a sensible size for a [`TextAssembler`].
pub const MIN_TEXT_CAPACITY: usize = 8192;

/// What went wrong reading, assembling or writing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TextError {
    /// A pair without `=`.
    MissingEquals,
    /// A pair starting with `=`.
    EmptyKey,
    /// A key with a character outside RFC 7143 §6.1 `a-z A-Z 0-9 . - + @ _ :` (after an optional
    /// `X#` prefix).
    BadKeyChar,
    /// A key longer than [`MAX_KEY_LEN`].
    KeyTooLong,
    /// A value longer than the key allows.
    ValueTooLong,
    /// A value containing NUL (writer side).
    BadValue,
    /// Key or value is not UTF-8.
    NotUtf8,
    /// The last pair is not followed by NUL (RFC 7143 §6.1: every pair, including the last, is).
    Unterminated,
    /// The caller's buffer is too small; `needed` bytes would have fitted.
    BufferTooSmall {
        /// Total bytes the buffer would need.
        needed: usize,
    },
    /// More text arrived than the assembler holds (the bound on one negotiation step).
    TooLong {
        /// The assembler's capacity.
        limit: usize,
    },
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::MissingEquals => f.write_str("key=value pair without '='"),
            TextError::EmptyKey => f.write_str("empty key"),
            TextError::BadKeyChar => f.write_str("invalid character in key"),
            TextError::KeyTooLong => f.write_str("key longer than 63 bytes"),
            TextError::ValueTooLong => f.write_str("value too long"),
            TextError::BadValue => f.write_str("value contains NUL"),
            TextError::NotUtf8 => f.write_str("text is not UTF-8"),
            TextError::Unterminated => f.write_str("last pair not NUL-terminated"),
            TextError::BufferTooSmall { needed } => write!(f, "buffer too small, need {needed}"),
            TextError::TooLong { limit } => write!(f, "text longer than {limit} bytes"),
        }
    }
}

/// Checks a key name against RFC 7143 §6.1: 1..=63 bytes of `a-z A-Z 0-9 . - + @ _ :`, with an
/// optional `X#` prefix (IANA-registered extension keys). `X-` and `Z-` keys pass as they are.
pub fn check_key(key: &[u8]) -> Result<(), TextError> {
    if key.is_empty() {
        return Err(TextError::EmptyKey);
    }
    if key.len() > MAX_KEY_LEN {
        return Err(TextError::KeyTooLong);
    }
    let body = key.strip_prefix(b"X#").unwrap_or(key);
    let ok = !body.is_empty()
        && body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b".-+@_:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(TextError::BadKeyChar)
    }
}

/// The default per-key value limit: [`MAX_VALUE_LEN`] for every key.
pub fn default_value_limit(_key: &str) -> usize {
    MAX_VALUE_LEN
}

/// Iterator over the `key=value` pairs of a complete text buffer (RFC 7143 §6.1).
///
/// Yields `Ok((key, value))` per pair and stops after the first error. Empty entries (several NULs
/// in a row, e.g. zero padding some peers count in DataSegmentLength) are skipped.
#[derive(Clone)]
pub struct TextReader<'a> {
    rest: &'a [u8],
    limit: fn(&str) -> usize,
    done: bool,
}

impl fmt::Debug for TextReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextReader")
            .field("remaining", &self.rest.len())
            .field("done", &self.done)
            .finish()
    }
}

impl<'a> TextReader<'a> {
    /// Reads `text` with [`MAX_VALUE_LEN`] as the limit for every value.
    pub fn new(text: &'a [u8]) -> Self {
        Self::with_value_limit(text, default_value_limit)
    }

    /// Reads `text`, asking `limit(key)` for the longest value each key allows (CHAP challenges and
    /// responses are longer than 255 bytes, RFC 7143 §12.1.3).
    pub fn with_value_limit(text: &'a [u8], limit: fn(&str) -> usize) -> Self {
        TextReader {
            rest: text,
            limit,
            done: false,
        }
    }

    fn parse_pair(&self, pair: &'a [u8]) -> Result<(&'a str, &'a str), TextError> {
        let eq = pair
            .iter()
            .position(|&b| b == b'=')
            .ok_or(TextError::MissingEquals)?;
        let (key, value) = pair.split_at_checked(eq).ok_or(TextError::MissingEquals)?;
        let value = value.get(1..).unwrap_or_default();
        check_key(key)?;
        let key = core::str::from_utf8(key).map_err(|_| TextError::NotUtf8)?;
        let value = core::str::from_utf8(value).map_err(|_| TextError::NotUtf8)?;
        if value.len() > (self.limit)(key) {
            return Err(TextError::ValueTooLong);
        }
        Ok((key, value))
    }
}

impl<'a> Iterator for TextReader<'a> {
    type Item = Result<(&'a str, &'a str), TextError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done || self.rest.is_empty() {
                return None;
            }
            let Some(nul) = self.rest.iter().position(|&b| b == 0) else {
                self.done = true;
                return Some(Err(TextError::Unterminated));
            };
            let (pair, tail) = self.rest.split_at_checked(nul)?;
            self.rest = tail.get(1..).unwrap_or_default();
            if pair.is_empty() {
                continue;
            }
            let item = self.parse_pair(pair);
            if item.is_err() {
                self.done = true;
            }
            return Some(item);
        }
    }
}

/// Progress of a [`TextAssembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Assembled {
    /// A segment with the C bit arrived; more follow.
    NeedMore,
    /// The final segment arrived; [`TextAssembler::text`] holds the whole text.
    Complete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AsmState {
    Collecting,
    Complete,
    Overflowed,
}

/// Reassembles the text of one negotiation step from PDUs sent with the C bit
/// (RFC 7143 §11.10.2, §11.12.2); a key=value pair may be split anywhere between two PDUs.
///
/// Holds at most `N` bytes; more is [`TextError::TooLong`], reported again on every push until
/// [`reset`](Self::reset). A push after a complete text starts a new one.
#[derive(Clone)]
pub struct TextAssembler<const N: usize> {
    buf: [u8; N],
    len: usize,
    state: AsmState,
}

impl<const N: usize> fmt::Debug for TextAssembler<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextAssembler")
            .field("capacity", &N)
            .field("len", &self.len)
            .field("state", &self.state)
            .finish()
    }
}

impl<const N: usize> Default for TextAssembler<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> TextAssembler<N> {
    /// An empty assembler.
    pub const fn new() -> Self {
        TextAssembler {
            buf: [0; N],
            len: 0,
            state: AsmState::Collecting,
        }
    }

    /// Appends one PDU's data segment; `continue_bit` is the PDU's C flag.
    pub fn push(&mut self, segment: &[u8], continue_bit: bool) -> Result<Assembled, TextError> {
        assemble(
            &mut self.buf,
            &mut self.len,
            &mut self.state,
            segment,
            continue_bit,
        )
    }

    /// The whole text, once the final segment arrived.
    pub fn text(&self) -> Option<&[u8]> {
        match self.state {
            AsmState::Complete => self.buf.get(..self.len),
            _ => None,
        }
    }

    /// Bytes collected so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets everything, including an overflow.
    pub fn reset(&mut self) {
        self.len = 0;
        self.state = AsmState::Collecting;
    }
}

/// [`TextAssembler::push`] over its buffer as a slice: one copy for every capacity.
fn assemble(
    buf: &mut [u8],
    len: &mut usize,
    state: &mut AsmState,
    segment: &[u8],
    continue_bit: bool,
) -> Result<Assembled, TextError> {
    let limit = buf.len();
    match *state {
        AsmState::Overflowed => return Err(TextError::TooLong { limit }),
        AsmState::Complete => {
            *len = 0;
            *state = AsmState::Collecting;
        }
        AsmState::Collecting => {}
    }
    let end = len.checked_add(segment.len());
    let Some(dst) = end.and_then(|end| buf.get_mut(*len..end)) else {
        *state = AsmState::Overflowed;
        return Err(TextError::TooLong { limit });
    };
    dst.copy_from_slice(segment);
    *len = end.unwrap_or(*len);
    if continue_bit {
        Ok(Assembled::NeedMore)
    } else {
        *state = AsmState::Complete;
        Ok(Assembled::Complete)
    }
}

/// Appends `key=value\0` pairs into a caller buffer (RFC 7143 §6.1).
///
/// Each push either writes the whole pair or nothing.
pub struct TextWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl fmt::Debug for TextWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextWriter")
            .field("len", &self.len)
            .field("capacity", &self.buf.len())
            .finish()
    }
}

impl<'a> TextWriter<'a> {
    /// A writer over an empty `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        TextWriter { buf, len: 0 }
    }

    /// Appends `key=value\0`. The key must pass [`check_key`]; the value must not contain NUL.
    pub fn push(&mut self, key: &str, value: &str) -> Result<(), TextError> {
        check_key(key.as_bytes())?;
        // A plain loop: `contains` on bytes links `memchr` for these short values.
        if value.bytes().any(|b| b == 0) {
            return Err(TextError::BadValue);
        }
        let needed = self
            .len
            .checked_add(key.len())
            .and_then(|n| n.checked_add(value.len()))
            .and_then(|n| n.checked_add(2))
            .ok_or(TextError::BufferTooSmall { needed: usize::MAX })?;
        let Some(dst) = self.buf.get_mut(self.len..needed) else {
            return Err(TextError::BufferTooSmall { needed });
        };
        let Some((k, rest)) = dst.split_at_mut_checked(key.len()) else {
            return Err(TextError::BufferTooSmall { needed });
        };
        k.copy_from_slice(key.as_bytes());
        let Some((eq, rest)) = rest.split_at_mut_checked(1) else {
            return Err(TextError::BufferTooSmall { needed });
        };
        eq.fill(b'=');
        let Some((v, nul)) = rest.split_at_mut_checked(value.len()) else {
            return Err(TextError::BufferTooSmall { needed });
        };
        v.copy_from_slice(value.as_bytes());
        nul.fill(0);
        self.len = needed;
        Ok(())
    }

    /// Appends `key=<decimal n>\0`.
    pub fn push_u32(&mut self, key: &str, n: u32) -> Result<(), TextError> {
        let mut digits = [0u8; 10];
        self.push(key, format_u32(n, &mut digits))
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The text written so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Forgets everything written.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

/// Formats `n` in decimal into `buf`, returning the digits.
pub fn format_u32(n: u32, buf: &mut [u8; 10]) -> &str {
    let mut n = n;
    let mut start = buf.len();
    for slot in buf.iter_mut().rev() {
        // `n % 10` is a single decimal digit, so the cast cannot truncate.
        *slot = b'0'.wrapping_add((n % 10) as u8);
        start = start.saturating_sub(1);
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let digits = buf.get(start..).unwrap_or_default();
    core::str::from_utf8(digits).unwrap_or("0")
}

/// One outgoing data segment from a [`TextSegmenter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextSegment<'a> {
    /// The bytes for this PDU's data segment.
    pub data: &'a [u8],
    /// Whether this PDU must carry the C (continue) bit: more text follows.
    pub continue_bit: bool,
}

/// Splits outgoing text into data segments of at most the peer's MaxRecvDataSegmentLength
/// (RFC 7143 §11.10.2, §11.12.2). Every segment but the last has the C bit.
///
/// Empty text still yields one empty, final segment: a Login or Text PDU goes out regardless.
#[derive(Debug, Clone)]
pub struct TextSegmenter<'a> {
    rest: &'a [u8],
    max: usize,
    started: bool,
}

impl<'a> TextSegmenter<'a> {
    /// Segments `text` into pieces of at most `max_data_segment_length` bytes (0 is taken as 1).
    pub fn new(text: &'a [u8], max_data_segment_length: u32) -> Self {
        let max = usize::try_from(max_data_segment_length)
            .unwrap_or(usize::MAX)
            .max(1);
        TextSegmenter {
            rest: text,
            max,
            started: false,
        }
    }

    /// Bytes not yet handed out.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }
}

impl<'a> Iterator for TextSegmenter<'a> {
    type Item = TextSegment<'a>;

    fn next(&mut self) -> Option<TextSegment<'a>> {
        if self.rest.is_empty() {
            if self.started {
                return None;
            }
            self.started = true;
            return Some(TextSegment {
                data: self.rest,
                continue_bit: false,
            });
        }
        self.started = true;
        let take = self.rest.len().min(self.max);
        let (data, rest) = self.rest.split_at_checked(take)?;
        self.rest = rest;
        Some(TextSegment {
            data,
            continue_bit: !rest.is_empty(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::string::String;
    use std::vec::Vec;

    fn pairs(text: &[u8]) -> Vec<Result<(&str, &str), TextError>> {
        TextReader::new(text).collect()
    }

    #[test]
    fn test_reader_pairs() {
        let got = pairs(b"HeaderDigest=CRC32C,None\0MaxBurstLength=262144\0");
        assert_eq!(
            got,
            [
                Ok(("HeaderDigest", "CRC32C,None")),
                Ok(("MaxBurstLength", "262144"))
            ]
        );
    }

    #[test]
    fn test_reader_empty_value_and_padding() {
        assert_eq!(pairs(b"SendTargets=\0\0\0\0"), [Ok(("SendTargets", ""))]);
        assert_eq!(pairs(b""), []);
    }

    #[test]
    fn test_reader_value_may_contain_equals() {
        assert_eq!(pairs(b"X-a=b=c\0"), [Ok(("X-a", "b=c"))]);
    }

    #[test]
    fn test_reader_errors_stop_iteration() {
        assert_eq!(pairs(b"NoEquals\0A=b\0"), [Err(TextError::MissingEquals)]);
        assert_eq!(pairs(b"=x\0"), [Err(TextError::EmptyKey)]);
        assert_eq!(pairs(b"Bad Key=x\0"), [Err(TextError::BadKeyChar)]);
        assert_eq!(pairs(b"A=b"), [Err(TextError::Unterminated)]);
        assert_eq!(pairs(b"A=\xff\0"), [Err(TextError::NotUtf8)]);
        assert_eq!(pairs(b"A\xc3\xa9=x\0"), [Err(TextError::BadKeyChar)]);
    }

    #[test]
    fn test_reader_key_prefixes_and_charset() {
        assert_eq!(check_key(b"X-com.example.Key"), Ok(()));
        assert_eq!(check_key(b"X#ExtKey"), Ok(()));
        assert_eq!(check_key(b"Z-vendor@x:y+z_1"), Ok(()));
        assert_eq!(check_key(b"iSCSIProtocolLevel"), Ok(()));
        assert_eq!(check_key(b"X#"), Err(TextError::BadKeyChar));
        assert_eq!(check_key(b"A#B"), Err(TextError::BadKeyChar));
        assert_eq!(check_key(b"A/B"), Err(TextError::BadKeyChar));
    }

    #[test]
    fn test_reader_length_limits() {
        let key63 = "K".repeat(63);
        let key64 = "K".repeat(64);
        let ok = std::format!("{key63}=v\0");
        let bad = std::format!("{key64}=v\0");
        assert!(pairs(ok.as_bytes())[0].is_ok());
        assert_eq!(pairs(bad.as_bytes()), [Err(TextError::KeyTooLong)]);

        let v255 = std::format!("A={}\0", "v".repeat(255));
        let v256 = std::format!("A={}\0", "v".repeat(256));
        assert!(pairs(v255.as_bytes())[0].is_ok());
        assert_eq!(pairs(v256.as_bytes()), [Err(TextError::ValueTooLong)]);

        fn long_chap(key: &str) -> usize {
            if key == "CHAP_C" {
                1024
            } else {
                MAX_VALUE_LEN
            }
        }
        let c = std::format!("CHAP_C={}\0", "a".repeat(1000));
        let got: Vec<_> = TextReader::with_value_limit(c.as_bytes(), long_chap).collect();
        assert!(got[0].is_ok());
        let n = std::format!("CHAP_N={}\0", "a".repeat(1000));
        let got: Vec<_> = TextReader::with_value_limit(n.as_bytes(), long_chap).collect();
        assert_eq!(got, [Err(TextError::ValueTooLong)]);
    }

    #[test]
    fn test_writer_push_and_too_small() {
        let mut buf = [0u8; 20];
        let mut w = TextWriter::new(&mut buf);
        w.push("A", "b").unwrap();
        w.push_u32("N", 4_294_967_295).unwrap();
        assert_eq!(w.as_bytes(), b"A=b\0N=4294967295\0");
        assert_eq!(w.len(), 17);
        assert_eq!(
            w.push("Key", "v"),
            Err(TextError::BufferTooSmall { needed: 23 })
        );
        // A failed push writes nothing.
        assert_eq!(w.as_bytes(), b"A=b\0N=4294967295\0");
        assert_eq!(w.push("bad key", "v"), Err(TextError::BadKeyChar));
        assert_eq!(w.push("K", "a\0b"), Err(TextError::BadValue));
        w.clear();
        assert!(w.is_empty());
    }

    #[test]
    fn test_format_u32() {
        let mut b = [0u8; 10];
        assert_eq!(format_u32(0, &mut b), "0");
        assert_eq!(format_u32(7, &mut b), "7");
        assert_eq!(format_u32(262_144, &mut b), "262144");
        assert_eq!(format_u32(u32::MAX, &mut b), "4294967295");
    }

    #[test]
    fn test_assembler_continue_and_overflow() {
        let mut a = TextAssembler::<8>::new();
        assert_eq!(a.push(b"A=", true), Ok(Assembled::NeedMore));
        assert_eq!(a.text(), None);
        assert_eq!(a.push(b"b\0", false), Ok(Assembled::Complete));
        assert_eq!(a.text(), Some(&b"A=b\0"[..]));
        // A push after completion starts a new text.
        assert_eq!(a.push(b"C=d\0", false), Ok(Assembled::Complete));
        assert_eq!(a.text(), Some(&b"C=d\0"[..]));
        a.reset();
        assert_eq!(a.push(b"12345", true), Ok(Assembled::NeedMore));
        assert_eq!(a.push(b"6789", false), Err(TextError::TooLong { limit: 8 }));
        assert_eq!(a.push(b"", false), Err(TextError::TooLong { limit: 8 }));
        a.reset();
        assert!(a.is_empty());
        assert_eq!(a.push(b"", false), Ok(Assembled::Complete));
        assert_eq!(a.text(), Some(&b""[..]));
    }

    #[test]
    fn test_segmenter() {
        let segs: Vec<_> = TextSegmenter::new(b"abcdefg", 3).collect();
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[0].data, b"abc");
        assert!(segs[0].continue_bit && segs[1].continue_bit && !segs[2].continue_bit);
        assert_eq!(segs[2].data, b"g");
        let segs: Vec<_> = TextSegmenter::new(b"", 8192).collect();
        assert_eq!(
            segs,
            [TextSegment {
                data: b"",
                continue_bit: false
            }]
        );
        let segs: Vec<_> = TextSegmenter::new(b"abc", 3).collect();
        assert_eq!(segs.len(), 1);
        assert!(!segs[0].continue_bit);
        assert_eq!(TextSegmenter::new(b"ab", 0).count(), 2);
    }

    fn key_strategy() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9.+@_:-]{0,20}"
    }

    proptest! {
        #[test]
        fn prop_text_roundtrip_through_segments(
            kvs in proptest::collection::vec((key_strategy(), "[ -~]{0,40}"), 0..20),
            seg in 1u32..64,
        ) {
            let mut buf = [0u8; 4096];
            let mut w = TextWriter::new(&mut buf);
            for (k, v) in &kvs {
                w.push(k, v).unwrap();
            }
            let text = w.as_bytes();
            let mut asm = TextAssembler::<4096>::new();
            let mut last = None;
            for s in TextSegmenter::new(text, seg) {
                prop_assert!(s.data.len() <= seg as usize);
                last = Some(asm.push(s.data, s.continue_bit).unwrap());
            }
            prop_assert_eq!(last, Some(Assembled::Complete));
            prop_assert_eq!(asm.text().unwrap(), text);
            let back: Vec<(String, String)> = TextReader::new(asm.text().unwrap())
                .map(|r| r.map(|(k, v)| (String::from(k), String::from(v))).unwrap())
                .collect();
            prop_assert_eq!(back, kvs);
        }

        #[test]
        fn prop_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut n = 0usize;
            for item in TextReader::new(&bytes) {
                if let Ok((k, v)) = item {
                    prop_assert!(check_key(k.as_bytes()).is_ok());
                    prop_assert!(v.len() <= MAX_VALUE_LEN);
                }
                n += 1;
                prop_assert!(n <= bytes.len());
            }
        }
    }
}
