//! The iSER Hello exchange rules (RFC 7145 §9.3, §9.4) as pure functions over plain values.

use super::params::{ConnParams, HelloOutcome};
use crate::wire::{HelloReplyRepr, HelloRepr};

/// Why the Hello exchange failed. The connection moves to `Closing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HelloError {
    /// The target set the Reject flag in its HelloReply (RFC 7145 §9.4).
    HelloRejected,
    /// The HelloReply's CurVer is outside the versions we offered.
    BadVersion,
    /// A HelloReply arrived at or after the deadline.
    Late,
    /// No HelloReply within [`HELLO_TIMEOUT`](super::HELLO_TIMEOUT).
    HelloTimeout,
}

/// Highest version in both `[a_min, a_max]` and `[b_min, b_max]`.
pub const fn common_version(a_min: u8, a_max: u8, b_min: u8, b_max: u8) -> Option<u8> {
    let lo = if a_min > b_min { a_min } else { b_min };
    let hi = if a_max < b_max { a_max } else { b_max };
    if lo <= hi {
        Some(hi)
    } else {
        None
    }
}

/// The target's answer to a Hello: the highest common version, and an iSER-ORD no larger than
/// the initiator's iSER-IRD (so we never have more RDMA Reads in flight than it accepts).
/// Reject (RFC 7145 §9.4) when no version is common; MaxVer then tells the initiator ours.
pub const fn answer_hello(local: &ConnParams, peer: HelloRepr) -> HelloReplyRepr {
    match common_version(
        local.min_version,
        local.max_version,
        peer.min_ver,
        peer.max_ver,
    ) {
        Some(v) => HelloReplyRepr {
            reject: false,
            max_ver: local.max_version,
            cur_ver: v,
            iser_ord: if local.ord < peer.iser_ird {
                local.ord
            } else {
                peer.iser_ird
            },
        },
        None => HelloReplyRepr {
            reject: true,
            max_ver: local.max_version,
            cur_ver: 0,
            iser_ord: 0,
        },
    }
}

/// The initiator's check of a HelloReply: not rejected, and CurVer one we offered and the target
/// claims to support.
pub const fn check_reply(
    local: &ConnParams,
    reply: HelloReplyRepr,
) -> Result<HelloOutcome, HelloError> {
    if reply.reject {
        return Err(HelloError::HelloRejected);
    }
    let v = reply.cur_ver;
    if v < local.min_version || v > local.max_version || v > reply.max_ver {
        return Err(HelloError::BadVersion);
    }
    Ok(HelloOutcome {
        version: v,
        peer_ord: reply.iser_ord,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn target(min: u8, max: u8, ord: u16) -> ConnParams {
        ConnParams {
            min_version: min,
            max_version: max,
            ord,
            ..ConnParams::target(1)
        }
    }

    fn initiator(min: u8, max: u8) -> ConnParams {
        ConnParams {
            min_version: min,
            max_version: max,
            ..ConnParams::initiator(2)
        }
    }

    #[test]
    fn test_common_version() {
        assert_eq!(common_version(1, 1, 1, 1), Some(1));
        assert_eq!(common_version(1, 3, 2, 5), Some(3));
        assert_eq!(common_version(1, 1, 2, 2), None);
        assert_eq!(common_version(3, 1, 1, 3), None, "inverted range");
    }

    proptest! {
        /// Whatever the two ends support, a target's answer is either a reject or accepted by
        /// an initiator with the same ranges, with a version both support and ORD <= IRD.
        #[test]
        fn prop_answer_then_check_agree(
            tmin in 0u8..6, tmax in 0u8..6, imin in 0u8..6, imax in 0u8..6,
            ord: u16, ird: u16,
        ) {
            let t = target(tmin, tmax, ord);
            let mut i = initiator(imin, imax);
            i.ird = ird;
            let reply = answer_hello(&t, i.local_hello());
            let common = common_version(tmin, tmax, imin, imax);
            prop_assert_eq!(reply.reject, common.is_none());
            match check_reply(&i, reply) {
                Ok(o) => {
                    prop_assert_eq!(Some(o.version), common);
                    prop_assert!(o.version >= tmin && o.version <= tmax);
                    prop_assert!(o.version >= imin && o.version <= imax);
                    prop_assert!(o.peer_ord <= ird && o.peer_ord <= ord);
                }
                Err(e) => prop_assert_eq!(e, HelloError::HelloRejected),
            }
        }
    }
}
