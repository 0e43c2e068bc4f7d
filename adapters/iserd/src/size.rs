//! Byte sizes as people write them in config files and on the command line: `67108864`,
//! `64MiB`, `64M`, `1GiB`, `2T`. Suffixes are binary (K = KiB = 1024); `MB`-style suffixes are
//! refused because they are ambiguous.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

/// Why a size string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SizeError(String);

impl fmt::Display for SizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SizeError {}

impl FromStr for ByteSize {
    type Err = SizeError;

    fn from_str(s: &str) -> Result<Self, SizeError> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (digits, suffix) = t.split_at(split);
        if digits.is_empty() {
            return Err(SizeError(format!(
                "invalid size {s:?}: expected a number of bytes with an optional K/M/G/T (or KiB/MiB/GiB/TiB) suffix"
            )));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| SizeError(format!("invalid size {s:?}: number too large")))?;
        let shift = match suffix.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kib" => 10,
            "m" | "mib" => 20,
            "g" | "gib" => 30,
            "t" | "tib" => 40,
            "kb" | "mb" | "gb" | "tb" => {
                return Err(SizeError(format!(
                    "invalid size {s:?}: decimal suffixes are ambiguous; write KiB/MiB/GiB/TiB (or K/M/G/T, also binary)"
                )))
            }
            other => {
                return Err(SizeError(format!(
                    "invalid size {s:?}: unknown suffix {other:?} (use K, M, G, T or KiB, MiB, GiB, TiB)"
                )))
            }
        };
        n.checked_mul(1u64 << shift)
            .map(ByteSize)
            .ok_or_else(|| SizeError(format!("invalid size {s:?}: too large")))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u32, &str); 4] = [(40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB")];
        for (shift, unit) in UNITS {
            let m = 1u64 << shift;
            if self.0 >= m && self.0 % m == 0 {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size: a number of bytes or a string such as \"64MiB\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                v.parse().map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        assert_eq!("512".parse(), Ok(ByteSize(512)));
        assert_eq!("64MiB".parse(), Ok(ByteSize(64 << 20)));
        assert_eq!("64m".parse(), Ok(ByteSize(64 << 20)));
        assert_eq!(" 2 G ".parse(), Ok(ByteSize(2 << 30)));
        assert_eq!("1TiB".parse(), Ok(ByteSize(1 << 40)));
        assert_eq!("4k".parse(), Ok(ByteSize(4096)));
    }

    #[test]
    fn refuses_bad_sizes() {
        for bad in [
            "",
            "MiB",
            "64MB",
            "1.5G",
            "-1",
            "12Q",
            "99999999999999999999",
            "16777216T",
        ] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn displays_largest_exact_unit() {
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
        assert_eq!(ByteSize(1536).to_string(), "1536");
        assert_eq!(ByteSize(3 << 10).to_string(), "3KiB");
        assert_eq!(ByteSize(100).to_string(), "100");
    }
}
