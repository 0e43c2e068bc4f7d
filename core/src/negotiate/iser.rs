//! The iSER transport's key policy (RFC 7145 §6, §5.1), layered on the RFC 7143 table the way the
//! illumos iSER transport did it: the transport answers the keys it owns, the rest pass through.

use super::config::LocalConfig;
use super::error::ProtocolFault;
use super::keys::{Key, KeyDef, Role, ValueKind};
use super::negotiated::Negotiated;
use super::policy::{PolicyAnswer, TransportPolicy, Verdict};
use super::value::{parse_bool, parse_number, Digest, SessionType};

/// The iSER policy:
/// - HeaderDigest / DataDigest offers must include `None`, and the outcome is `None` (iSER has
///   no digests, RFC 7145 §5.1); an offer without `None` fails the login.
/// - RDMAExtensions must end `Yes`; an offer of `No` fails the login.
/// - IFMarker / OFMarker are answered `No`.
/// - A TargetRecvDataSegmentLength, InitiatorRecvDataSegmentLength or MaxOutstandingUnexpectedPDUs
///   above our implementation maximum is answered with the maximum and the transit bit stays
///   clear for that step, so the peer sees the answer; values outside the RFC range fail the
///   login.
/// - Every other key passes through to the iSCSI layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IserPolicy {
    /// Largest TargetRecvDataSegmentLength this implementation handles.
    pub max_target_recv_data_segment_length: u32,
    /// Largest InitiatorRecvDataSegmentLength this implementation handles.
    pub max_initiator_recv_data_segment_length: u32,
    /// Largest MaxOutstandingUnexpectedPDUs this implementation handles (0 = no limit).
    pub max_outstanding_unexpected_pdus: u32,
    held: bool,
}

impl IserPolicy {
    /// A policy with these implementation maxima.
    pub const fn new(
        max_target_recv_data_segment_length: u32,
        max_initiator_recv_data_segment_length: u32,
        max_outstanding_unexpected_pdus: u32,
    ) -> Self {
        IserPolicy {
            max_target_recv_data_segment_length,
            max_initiator_recv_data_segment_length,
            max_outstanding_unexpected_pdus,
            held: false,
        }
    }

    /// Whether an answer of this step lowered a peer's value, so another round is needed.
    pub fn needs_another_round(&self) -> bool {
        self.held
    }

    fn max_for(&self, key: Key) -> Option<u32> {
        match key {
            Key::TargetRecvDataSegmentLength => Some(self.max_target_recv_data_segment_length),
            Key::InitiatorRecvDataSegmentLength => {
                Some(self.max_initiator_recv_data_segment_length)
            }
            Key::MaxOutstandingUnexpectedPDUs => Some(self.max_outstanding_unexpected_pdus),
            _ => None,
        }
    }
}

impl Default for IserPolicy {
    /// Maxima of 128 KiB per control PDU data segment and no limit on unexpected PDUs.
    fn default() -> Self {
        IserPolicy::new(131_072, 131_072, 0)
    }
}

/// `a <= b` where 0 means unlimited on both sides.
pub(crate) fn le_unlimited(a: u32, b: u32) -> bool {
    b == 0 || (a != 0 && a <= b)
}

fn clamp_unlimited(v: &mut u32, max: u32) {
    if !le_unlimited(*v, max) {
        *v = max;
    }
}

impl TransportPolicy for IserPolicy {
    fn configure(&self, config: &mut LocalConfig<'_>) {
        config.header_digests = &[Digest::None];
        config.data_digests = &[Digest::None];
        config.rdma_extensions = true;
        config.target_recv_data_segment_length = config
            .target_recv_data_segment_length
            .min(self.max_target_recv_data_segment_length);
        config.initiator_recv_data_segment_length = config
            .initiator_recv_data_segment_length
            .min(self.max_initiator_recv_data_segment_length);
        clamp_unlimited(
            &mut config.max_outstanding_unexpected_pdus,
            self.max_outstanding_unexpected_pdus,
        );
    }

    fn begin_step(&mut self) {
        self.held = false;
    }

    fn on_offer(
        &mut self,
        _role: Role,
        key: &KeyDef,
        value: &str,
    ) -> Result<Verdict, ProtocolFault> {
        let answer = |value| {
            Ok(Verdict::Answer {
                value,
                hold_transit: false,
            })
        };
        match key.key {
            Key::HeaderDigest | Key::DataDigest => {
                let none = Digest::None.word().as_bytes();
                if value.as_bytes().split(|b| *b == b',').any(|w| w == none) {
                    answer(PolicyAnswer::Word(Digest::None.word()))
                } else {
                    Err(ProtocolFault::TransportRequirement { key: key.name })
                }
            }
            Key::RDMAExtensions => match parse_bool(value) {
                Some(true) => answer(PolicyAnswer::Word("Yes")),
                Some(false) => Err(ProtocolFault::TransportRequirement { key: key.name }),
                None => Err(ProtocolFault::InvalidValue { key: key.name }),
            },
            Key::IFMarker | Key::OFMarker => answer(PolicyAnswer::Word("No")),
            k => {
                let Some(max) = self.max_for(k) else {
                    return Ok(Verdict::PassThrough);
                };
                let ValueKind::Number {
                    min,
                    max: top,
                    zero_unlimited,
                } = key.kind
                else {
                    return Ok(Verdict::PassThrough);
                };
                let n = parse_number(value)
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| (min..=top).contains(n) || (zero_unlimited && *n == 0))
                    .ok_or(ProtocolFault::InvalidValue { key: key.name })?;
                let fits = if zero_unlimited {
                    le_unlimited(n, max)
                } else {
                    n <= max
                };
                if fits {
                    Ok(Verdict::PassThrough)
                } else {
                    self.held = true;
                    Ok(Verdict::Answer {
                        value: PolicyAnswer::Num(max),
                        hold_transit: true,
                    })
                }
            }
        }
    }

    fn transit_allowed(&self) -> bool {
        !self.held
    }

    fn check(&self, negotiated: &Negotiated) -> Result<(), ProtocolFault> {
        if negotiated.header_digest != Digest::None {
            return Err(ProtocolFault::TransportRequirement {
                key: Key::HeaderDigest.name(),
            });
        }
        if negotiated.data_digest != Digest::None {
            return Err(ProtocolFault::TransportRequirement {
                key: Key::DataDigest.name(),
            });
        }
        // LIO (`iscsi_set_keys_irrelevant_for_discovery`) and open-iscsi leave the iSER keys
        // out of Discovery sessions, which carry only Text PDUs; a Normal session needs them.
        if !negotiated.rdma_extensions && negotiated.session_type != SessionType::Discovery {
            return Err(ProtocolFault::TransportRequirement {
                key: Key::RDMAExtensions.name(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn offer(p: &mut IserPolicy, key: Key, v: &str) -> Result<Verdict, ProtocolFault> {
        p.on_offer(Role::Target, key.def(), v)
    }

    #[test]
    fn test_iser_digests_must_offer_none() {
        let mut p = IserPolicy::default();
        assert_eq!(
            offer(&mut p, Key::HeaderDigest, "CRC32C,None"),
            Ok(Verdict::Answer {
                value: PolicyAnswer::Word("None"),
                hold_transit: false
            })
        );
        assert_eq!(
            offer(&mut p, Key::DataDigest, "CRC32C"),
            Err(ProtocolFault::TransportRequirement { key: "DataDigest" })
        );
    }

    #[test]
    fn test_iser_rdma_extensions() {
        let mut p = IserPolicy::default();
        assert_eq!(
            offer(&mut p, Key::RDMAExtensions, "Yes"),
            Ok(Verdict::Answer {
                value: PolicyAnswer::Word("Yes"),
                hold_transit: false
            })
        );
        assert!(offer(&mut p, Key::RDMAExtensions, "No").is_err());
        assert_eq!(
            offer(&mut p, Key::RDMAExtensions, "yes"),
            Err(ProtocolFault::InvalidValue {
                key: "RDMAExtensions"
            })
        );
    }

    #[test]
    fn test_iser_markers_no_and_others_pass() {
        let mut p = IserPolicy::default();
        assert_eq!(
            offer(&mut p, Key::IFMarker, "Yes"),
            Ok(Verdict::Answer {
                value: PolicyAnswer::Word("No"),
                hold_transit: false
            })
        );
        assert_eq!(
            offer(&mut p, Key::MaxBurstLength, "1"),
            Ok(Verdict::PassThrough)
        );
    }

    #[test]
    fn test_iser_lengths_capped_without_transit() {
        let mut p = IserPolicy::new(65536, 8192, 16);
        p.begin_step();
        assert_eq!(
            offer(&mut p, Key::TargetRecvDataSegmentLength, "8192"),
            Ok(Verdict::PassThrough)
        );
        assert!(p.transit_allowed());
        assert_eq!(
            offer(&mut p, Key::InitiatorRecvDataSegmentLength, "262144"),
            Ok(Verdict::Answer {
                value: PolicyAnswer::Num(8192),
                hold_transit: true
            })
        );
        assert!(p.needs_another_round() && !p.transit_allowed());
        p.begin_step();
        assert!(p.transit_allowed());
        // 0 is "unlimited", above any finite maximum.
        assert_eq!(
            offer(&mut p, Key::MaxOutstandingUnexpectedPDUs, "0"),
            Ok(Verdict::Answer {
                value: PolicyAnswer::Num(16),
                hold_transit: true
            })
        );
        assert_eq!(
            offer(&mut p, Key::TargetRecvDataSegmentLength, "511"),
            Err(ProtocolFault::InvalidValue {
                key: "TargetRecvDataSegmentLength"
            })
        );
        assert_eq!(
            offer(&mut p, Key::MaxOutstandingUnexpectedPDUs, "1"),
            Err(ProtocolFault::InvalidValue {
                key: "MaxOutstandingUnexpectedPDUs"
            })
        );
    }

    #[test]
    fn test_iser_configure_and_check() {
        let p = IserPolicy::new(4096, 4096, 0);
        let mut c = LocalConfig::target();
        p.configure(&mut c);
        assert_eq!(c.header_digests, &[Digest::None]);
        assert!(c.rdma_extensions);
        assert_eq!(c.target_recv_data_segment_length, 4096);
        let mut n = Negotiated::new();
        assert_eq!(
            p.check(&n),
            Err(ProtocolFault::TransportRequirement {
                key: "RDMAExtensions"
            })
        );
        n.session_type = SessionType::Discovery;
        assert_eq!(p.check(&n), Ok(()));
        n.session_type = SessionType::Normal;
        n.rdma_extensions = true;
        assert_eq!(p.check(&n), Ok(()));
        n.data_digest = Digest::Crc32c;
        assert!(p.check(&n).is_err());
    }

    #[test]
    fn test_le_unlimited() {
        assert!(le_unlimited(5, 0));
        assert!(le_unlimited(0, 0));
        assert!(!le_unlimited(0, 5));
        assert!(le_unlimited(5, 5));
        assert!(!le_unlimited(6, 5));
    }
}
