//! Serde for the fixed byte arrays of the configuration (IP addresses): the same tuple of
//! bytes serde's own `[u8; N]` impl reads, through one loop instead of one unrolled copy per
//! length and element.

use core::fmt;
use serde::de::{Error, SeqAccess, Visitor};
use serde::Deserializer;

/// Reads a `[u8; N]` written by serde's array impl (a tuple of `N` bytes).
pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
    d: D,
) -> Result<[u8; N], D::Error> {
    let mut out = [0u8; N];
    d.deserialize_tuple(N, Octets(&mut out))?;
    Ok(out)
}

/// Fills its slice from a tuple of exactly that many bytes.
struct Octets<'a>(&'a mut [u8]);

impl<'de> Visitor<'de> for Octets<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        for (i, b) in self.0.iter_mut().enumerate() {
            *b = seq
                .next_element()?
                .ok_or_else(|| A::Error::invalid_length(i, &"a byte array"))?;
        }
        Ok(())
    }
}
