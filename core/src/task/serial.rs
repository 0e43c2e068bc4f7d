//! Serial number arithmetic (RFC 1982) and the CmdSN window check (RFC 7143 §4.2.2.1).
//!
//! iSCSI sequence numbers (CmdSN, ExpCmdSN, MaxCmdSN, StatSN, DataSN, R2TSN) are 32-bit serial
//! numbers: they wrap, and two of them can only be ordered when they are less than 2^31 apart
//! (RFC 7143 §4.2.2: "compared using Serial Number Arithmetic as defined in RFC 1982").

use core::cmp::Ordering;

/// Half the serial number space: RFC 1982 §3.2, `2^(SERIAL_BITS - 1)` with `SERIAL_BITS = 32`.
const HALF: u32 = 1 << 31;

/// A 32-bit serial number compared by RFC 1982 rules.
///
/// It deliberately does not implement `PartialOrd`: the RFC 1982 relation is not transitive, so
/// it cannot honour that trait's contract. Use [`SerialNumber::cmp_serial`] and friends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SerialNumber(pub u32);

impl SerialNumber {
    /// Serial addition (RFC 1982 §3.1): `self + n` modulo 2^32.
    ///
    /// RFC 1982 only defines additions of `n <= 2^31 - 1`; larger `n` still wraps, but the result
    /// then compares as *less* than `self`.
    #[must_use]
    pub const fn wrapping_add(self, n: u32) -> Self {
        SerialNumber(self.0.wrapping_add(n))
    }

    /// The serial number just before this one (`self - 1` modulo 2^32).
    #[must_use]
    pub const fn prev(self) -> Self {
        SerialNumber(self.0.wrapping_sub(1))
    }

    /// RFC 1982 §3.2 comparison. `None` when the two are exactly 2^31 apart, where the RFC leaves
    /// the order undefined.
    pub const fn cmp_serial(self, other: SerialNumber) -> Option<Ordering> {
        // Distance from self forward to other.
        let d = other.0.wrapping_sub(self.0);
        if d == 0 {
            Some(Ordering::Equal)
        } else if d < HALF {
            Some(Ordering::Less)
        } else if d > HALF {
            Some(Ordering::Greater)
        } else {
            None
        }
    }

    /// `self < other` in serial arithmetic (false when undefined).
    pub const fn lt(self, other: SerialNumber) -> bool {
        matches!(self.cmp_serial(other), Some(Ordering::Less))
    }

    /// `self > other` in serial arithmetic (false when undefined).
    pub const fn gt(self, other: SerialNumber) -> bool {
        matches!(self.cmp_serial(other), Some(Ordering::Greater))
    }

    /// `self <= other` in serial arithmetic (false when undefined).
    pub const fn le(self, other: SerialNumber) -> bool {
        matches!(
            self.cmp_serial(other),
            Some(Ordering::Less | Ordering::Equal)
        )
    }

    /// `self >= other` in serial arithmetic (false when undefined).
    pub const fn ge(self, other: SerialNumber) -> bool {
        matches!(
            self.cmp_serial(other),
            Some(Ordering::Greater | Ordering::Equal)
        )
    }
}

impl From<u32> for SerialNumber {
    fn from(v: u32) -> Self {
        SerialNumber(v)
    }
}

impl From<SerialNumber> for u32 {
    fn from(v: SerialNumber) -> Self {
        v.0
    }
}

/// Number of CmdSNs the window `[exp_cmd_sn, max_cmd_sn]` admits (RFC 7143 §4.2.2.1), or `None`
/// when the pair is invalid.
///
/// - `MaxCmdSN = ExpCmdSN - 1` is a valid, *empty* window (`Some(0)`): the target is telling the
///   initiator to stop sending non-immediate commands.
/// - `MaxCmdSN < ExpCmdSN - 1` in serial arithmetic is invalid: RFC 7143 §4.2.2.1 has the
///   initiator ignore both fields then (`None`). Windows longer than 2^31 cannot be ordered by
///   RFC 1982 and count as invalid too.
pub const fn window_len(exp_cmd_sn: SerialNumber, max_cmd_sn: SerialNumber) -> Option<u32> {
    // max - exp + 1, modulo 2^32. The empty window (max = exp - 1) gives 0.
    let len = max_cmd_sn.0.wrapping_sub(exp_cmd_sn.0).wrapping_add(1);
    if len <= HALF {
        Some(len)
    } else {
        None
    }
}

/// RFC 7143 §4.2.2.1: is a non-immediate command with `cmd_sn` inside the window
/// `ExpCmdSN <= CmdSN <= MaxCmdSN` (serial arithmetic)?
///
/// The window is empty when `MaxCmdSN = ExpCmdSN - 1`; an invalid window (see [`window_len`])
/// admits nothing. A target MUST silently ignore non-immediate commands outside the window.
pub const fn in_window(
    cmd_sn: SerialNumber,
    exp_cmd_sn: SerialNumber,
    max_cmd_sn: SerialNumber,
) -> bool {
    match window_len(exp_cmd_sn, max_cmd_sn) {
        // Offset of cmd_sn from the window's start, modulo 2^32.
        Some(len) => cmd_sn.0.wrapping_sub(exp_cmd_sn.0) < len,
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sn(v: u32) -> SerialNumber {
        SerialNumber(v)
    }

    #[test]
    fn test_serial_basic_order() {
        assert!(sn(1).lt(sn(2)));
        assert!(sn(2).gt(sn(1)));
        assert!(sn(0xffff_ffff).lt(sn(0)), "wrap: max < 0");
        assert!(sn(0).gt(sn(0xffff_ffff)));
        assert!(sn(5).le(sn(5)) && sn(5).ge(sn(5)));
        assert_eq!(sn(7).cmp_serial(sn(7)), Some(Ordering::Equal));
    }

    #[test]
    fn test_serial_undefined_at_half() {
        assert_eq!(sn(0).cmp_serial(sn(HALF)), None);
        assert_eq!(sn(HALF).cmp_serial(sn(0)), None);
        assert!(!sn(0).lt(sn(HALF)) && !sn(0).gt(sn(HALF)) && !sn(0).le(sn(HALF)));
        // One short of half is defined.
        assert!(sn(0).lt(sn(HALF - 1)));
        assert!(sn(0).gt(sn(HALF + 1)));
    }

    #[test]
    fn test_window_empty_when_max_is_exp_minus_one() {
        for exp in [0u32, 1, 100, HALF, 0xffff_ffff] {
            let exp = sn(exp);
            assert_eq!(window_len(exp, exp.prev()), Some(0));
            assert!(!in_window(exp, exp, exp.prev()));
            assert!(!in_window(exp.prev(), exp, exp.prev()));
        }
    }

    #[test]
    fn test_window_single_and_wrapping() {
        assert!(in_window(sn(10), sn(10), sn(10)));
        assert!(!in_window(sn(11), sn(10), sn(10)));
        // Window straddling the wrap: [0xffff_fffe, 1].
        let (exp, max) = (sn(0xffff_fffe), sn(1));
        assert_eq!(window_len(exp, max), Some(4));
        for c in [0xffff_fffe, 0xffff_ffff, 0, 1] {
            assert!(in_window(sn(c), exp, max), "{c:#x}");
        }
        assert!(!in_window(sn(2), exp, max));
        assert!(!in_window(sn(0xffff_fffd), exp, max));
    }

    #[test]
    fn test_window_invalid_when_max_below_exp_minus_one() {
        assert_eq!(window_len(sn(10), sn(8)), None);
        assert!(!in_window(sn(9), sn(10), sn(8)));
        assert!(!in_window(sn(10), sn(10), sn(8)));
        // The largest valid window is 2^31 long.
        assert_eq!(window_len(sn(0), sn(HALF - 1)), Some(HALF));
        assert_eq!(window_len(sn(0), sn(HALF)), None);
    }

    proptest! {
        #[test]
        fn prop_serial_antisymmetric(a: u32, b: u32) {
            let (a, b) = (sn(a), sn(b));
            match a.cmp_serial(b) {
                Some(o) => prop_assert_eq!(b.cmp_serial(a), Some(o.reverse())),
                None => {
                    prop_assert_eq!(b.cmp_serial(a), None);
                    prop_assert_eq!(a.0.wrapping_sub(b.0), HALF);
                }
            }
            prop_assert!(!(a.lt(b) && b.lt(a)));
            prop_assert_eq!(a.lt(b), b.gt(a));
            prop_assert_eq!(a.le(b), a.lt(b) || a == b);
        }

        #[test]
        fn prop_serial_add_is_greater(a: u32, n in 1u32..HALF) {
            let a = sn(a);
            prop_assert!(a.wrapping_add(n).gt(a));
            prop_assert!(a.lt(a.wrapping_add(n)));
        }

        #[test]
        fn prop_window_matches_serial_bounds(exp: u32, len in 0u32..=HALF, off: u32) {
            let exp = sn(exp);
            let max = exp.wrapping_add(len).prev();
            prop_assert_eq!(window_len(exp, max), Some(len));
            let cmd = exp.wrapping_add(off);
            prop_assert_eq!(in_window(cmd, exp, max), off < len);
            if in_window(cmd, exp, max) {
                prop_assert!(exp.le(cmd));
                prop_assert!(cmd.le(max));
            }
        }

        #[test]
        fn prop_window_edges(exp: u32, len in 1u32..=HALF) {
            let exp = sn(exp);
            let max = exp.wrapping_add(len - 1);
            prop_assert!(in_window(exp, exp, max));
            prop_assert!(in_window(max, exp, max));
            prop_assert!(!in_window(exp.prev(), exp, max));
            prop_assert!(!in_window(max.wrapping_add(1), exp, max));
        }
    }
}
