//! Key values: numbers, booleans, the reserved constants and the enumerated values of login keys
//! (RFC 7143 §6.1 value encodings, §6.2 reserved constants, §13 enumerations).

use core::fmt;

/// Reserved answer: the value is not acceptable (RFC 7143 §6.2).
pub const REJECT: &str = "Reject";
/// Reserved answer: the key does not matter in this negotiation (RFC 7143 §6.2).
pub const IRRELEVANT: &str = "Irrelevant";
/// Reserved answer: the key is unknown (RFC 7143 §6.2).
pub const NOT_UNDERSTOOD: &str = "NotUnderstood";
/// Boolean true (RFC 7143 §6.1).
pub const YES: &str = "Yes";
/// Boolean false (RFC 7143 §6.1).
pub const NO: &str = "No";

/// Whether `v` is one of `Reject`, `Irrelevant`, `NotUnderstood`.
pub fn is_reserved(v: &str) -> bool {
    v == REJECT || v == IRRELEVANT || v == NOT_UNDERSTOOD
}

/// Parses an RFC 7143 §6.1 numerical value: decimal, or hexadecimal with a `0x`/`0X` prefix.
/// Leading zeros are tolerated. `None` for anything else or anything above 2^64-1.
pub fn parse_number(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16u64),
        None => (s, 10),
    };
    if digits.is_empty() {
        return None;
    }
    // By hand rather than `u64::from_str_radix`: no sign to reject, and a third of the code.
    digits.bytes().try_fold(0u64, |n, b| {
        let d = match b {
            b'0'..=b'9' => b.wrapping_sub(b'0'),
            b'a'..=b'f' => b.wrapping_sub(b'a' - 10),
            b'A'..=b'F' => b.wrapping_sub(b'A' - 10),
            _ => return None,
        };
        if u64::from(d) >= radix {
            return None;
        }
        n.checked_mul(radix)?.checked_add(u64::from(d))
    })
}

/// Parses `Yes` / `No` (RFC 7143 §6.1 boolean-value; case-sensitive).
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        YES => Some(true),
        NO => Some(false),
        _ => None,
    }
}

/// The wire word for a boolean.
pub const fn bool_word(b: bool) -> &'static str {
    if b {
        YES
    } else {
        NO
    }
}

/// FNV-1a over `s`: remembers a received value cheaply, to tell a harmless repeat of the same
/// key=value from a renegotiation.
pub(crate) fn fingerprint(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A UTF-8 string of at most `N` bytes stored inline (names, aliases, addresses).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TextValue<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> TextValue<N> {
    /// The empty string.
    pub const fn new() -> Self {
        TextValue {
            buf: [0; N],
            len: 0,
        }
    }

    /// Copies `s`; `None` if it is longer than `N` bytes.
    pub fn copy_from(s: &str) -> Option<Self> {
        let mut v = Self::new();
        v.buf.get_mut(..s.len())?.copy_from_slice(s.as_bytes());
        v.len = s.len();
        Some(v)
    }

    /// Replaces the string in place with `s`; `false` (and unchanged) if `s` is longer than `N`
    /// bytes.
    #[cfg_attr(feature = "small-code", inline(never))]
    pub fn set(&mut self, s: &str) -> bool {
        let Some((head, tail)) = self.buf.split_at_mut_checked(s.len()) else {
            return false;
        };
        head.copy_from_slice(s.as_bytes());
        tail.fill(0);
        self.len = s.len();
        true
    }

    /// The string.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s are ever copied in, so this is always valid UTF-8.
        self.buf
            .get(..self.len)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// Whether the string is empty (the key was never exchanged).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Default for TextValue<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Debug for TextValue<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for TextValue<N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.as_str())
    }
}

/// An iSCSI name: at most 223 bytes (RFC 7143 §4.2.7.1).
pub type IscsiName = TextValue<223>;
/// An alias or a TargetAddress: at most 255 bytes (RFC 7143 §13.6–§13.8).
pub type Alias = TextValue<255>;

macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $word:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in table order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as it appears on the wire.
            pub const fn word(self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )+
                }
            }

            /// The value for a wire word.
            pub fn from_word(w: &str) -> Option<Self> {
                match w {
                    $( $word => Some($name::$variant), )+
                    _ => None,
                }
            }
        }
    };
}

word_enum! {
    /// HeaderDigest / DataDigest values (RFC 7143 §13.1).
    Digest {
        /// No digest.
        None = "None",
        /// CRC32C (RFC 7143 §13.1, Castagnoli polynomial).
        Crc32c = "CRC32C",
    }
}

word_enum! {
    /// AuthMethod values (RFC 7143 §12, IANA "iSCSI authentication methods").
    AuthMethod {
        /// Kerberos V5.
        Krb5 = "KRB5",
        /// Secure Remote Password.
        Srp = "SRP",
        /// SPKM-1 (obsolete).
        Spkm1 = "SPKM1",
        /// SPKM-2 (obsolete).
        Spkm2 = "SPKM2",
        /// CHAP (RFC 7143 §12.1.3).
        Chap = "CHAP",
        /// No authentication.
        None = "None",
    }
}

word_enum! {
    /// SessionType values (RFC 7143 §13.21).
    SessionType {
        /// A discovery session: SendTargets only.
        Discovery = "Discovery",
        /// A normal session: SCSI commands.
        Normal = "Normal",
    }
}

word_enum! {
    /// TaskReporting values (RFC 7143 §13.23).
    TaskReporting {
        /// RFC 3720 task reporting.
        Rfc3720 = "RFC3720",
        /// Response fence semantics (RFC 7143 §4.2.2.3.3).
        ResponseFence = "ResponseFence",
        /// FastAbort multi-task abort semantics (RFC 7143 §4.2.3.4).
        FastAbort = "FastAbort",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn test_text_value_set_in_place() {
        let mut v = Alias::copy_from("a-longer-alias").unwrap();
        assert!(v.set("short"));
        assert_eq!(v.as_str(), "short");
        // The bytes past the new end are cleared, so equality sees only the string.
        assert_eq!(v, Alias::copy_from("short").unwrap());
        assert!(!v.set(&"x".repeat(300)));
        assert_eq!(v.as_str(), "short");
    }

    #[test]
    fn test_parse_number() {
        assert_eq!(parse_number("0"), Some(0));
        assert_eq!(parse_number("262144"), Some(262_144));
        assert_eq!(parse_number("0x40000"), Some(262_144));
        assert_eq!(parse_number("0X1f"), Some(31));
        assert_eq!(parse_number("007"), Some(7));
        assert_eq!(parse_number("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_number("18446744073709551616"), None);
        assert_eq!(parse_number(""), None);
        assert_eq!(parse_number("0x"), None);
        assert_eq!(parse_number("-1"), None);
        assert_eq!(parse_number("+1"), None);
        assert_eq!(parse_number("12a"), None);
        assert_eq!(parse_number("1 "), None);
        assert_eq!(parse_number("0xffffffffffffffff"), Some(u64::MAX));
        assert_eq!(parse_number("0x10000000000000000"), None);
        assert_eq!(parse_number("0xfg"), None);
    }

    #[test]
    fn test_parse_bool() {
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("No"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_bool(""), None);
    }

    #[test]
    fn test_text_value() {
        let v = IscsiName::copy_from("iqn.2003-01.org.example:t1").unwrap();
        assert_eq!(v.as_str(), "iqn.2003-01.org.example:t1");
        assert!(IscsiName::copy_from(&"a".repeat(224)).is_none());
        assert!(IscsiName::copy_from(&"a".repeat(223)).is_some());
        assert!(IscsiName::new().is_empty());
    }

    #[test]
    fn test_words() {
        assert_eq!(Digest::from_word("CRC32C"), Some(Digest::Crc32c));
        assert_eq!(Digest::None.word(), "None");
        assert_eq!(Digest::from_word("crc32c"), None);
        assert_eq!(AuthMethod::from_word("CHAP"), Some(AuthMethod::Chap));
        assert_eq!(TaskReporting::ALL.len(), 3);
        assert_eq!(
            SessionType::from_word("Discovery"),
            Some(SessionType::Discovery)
        );
    }

    #[test]
    fn test_fingerprint_differs() {
        assert_ne!(fingerprint("8192"), fingerprint("8193"));
        assert_eq!(fingerprint("x"), fingerprint("x"));
    }
}
