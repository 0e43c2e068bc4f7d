//! What this side proposes and accepts for each key: [`LocalConfig`] (RFC 7143 §13 ranges,
//! RFC 7145 §6 for the iSER keys).

use super::error::LocalFault;
use super::keys::{Key, ValueKind, KEYS};
use super::value::{AuthMethod, Digest, SessionType, TaskReporting};

/// This side's wishes and limits for one login.
///
/// For a Min key (MaxBurstLength, ...) the value is the largest we accept and what we offer; for
/// a Max key (DefaultTime2Wait) the smallest; for an AND key `false` forces `No`; for an OR key
/// `true` forces `Yes`; lists are in order of preference. Declarative values
/// (MaxRecvDataSegmentLength, names) are stated as they are. A key whose wish equals the RFC
/// default is not offered: the default already satisfies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalConfig<'a> {
    /// Initiator: our InitiatorName (required).
    pub initiator_name: Option<&'a str>,
    /// Initiator: our InitiatorAlias.
    pub initiator_alias: Option<&'a str>,
    /// Initiator: the TargetName to log in to (required for a Normal session).
    pub target_name: Option<&'a str>,
    /// Target: our TargetAlias.
    pub target_alias: Option<&'a str>,
    /// Target: the TargetPortalGroupTag returned in the first response (RFC 7143 §13.9).
    pub target_portal_group_tag: Option<u16>,
    /// Initiator: the session type to ask for.
    pub session_type: SessionType,
    /// Target: whether discovery sessions are served.
    pub allow_discovery: bool,
    /// Target: whether normal sessions are served.
    pub allow_normal: bool,
    /// AuthMethod values we accept, in order of preference.
    pub auth_methods: &'a [AuthMethod],
    /// HeaderDigest values we accept, in order of preference.
    pub header_digests: &'a [Digest],
    /// DataDigest values we accept, in order of preference.
    pub data_digests: &'a [Digest],
    /// MaxConnections.
    pub max_connections: u16,
    /// InitialR2T.
    pub initial_r2t: bool,
    /// ImmediateData.
    pub immediate_data: bool,
    /// Our MaxRecvDataSegmentLength declaration.
    pub max_recv_data_segment_length: u32,
    /// MaxBurstLength.
    pub max_burst_length: u32,
    /// FirstBurstLength.
    pub first_burst_length: u32,
    /// DefaultTime2Wait.
    pub default_time2wait: u16,
    /// DefaultTime2Retain.
    pub default_time2retain: u16,
    /// MaxOutstandingR2T.
    pub max_outstanding_r2t: u16,
    /// DataPDUInOrder.
    pub data_pdu_in_order: bool,
    /// DataSequenceInOrder.
    pub data_sequence_in_order: bool,
    /// ErrorRecoveryLevel.
    pub error_recovery_level: u8,
    /// TaskReporting values we accept, in order of preference.
    pub task_reporting: &'a [TaskReporting],
    /// iSCSIProtocolLevel.
    pub iscsi_protocol_level: u8,
    /// RDMAExtensions: offer / accept the iSER datamover.
    pub rdma_extensions: bool,
    /// TargetRecvDataSegmentLength we state or accept at most.
    pub target_recv_data_segment_length: u32,
    /// InitiatorRecvDataSegmentLength we state or accept at most.
    pub initiator_recv_data_segment_length: u32,
    /// MaxOutstandingUnexpectedPDUs we state or accept at most (0 = unlimited).
    pub max_outstanding_unexpected_pdus: u32,
}

impl LocalConfig<'static> {
    /// Production defaults for a target, close to Linux LIO's:
    /// MaxRecvDataSegmentLength 262144 (what open-iscsi declares and sends by default, so data
    /// PDUs are not chopped to 8 KiB), MaxBurstLength 1 MiB, FirstBurstLength 64 KiB,
    /// ImmediateData and InitialR2T Yes, ERL 0, one connection, digests CRC32C or None (the
    /// initiator's order decides), no authentication, both session types, no iSER.
    pub const fn target() -> Self {
        LocalConfig {
            initiator_name: None,
            initiator_alias: None,
            target_name: None,
            target_alias: None,
            target_portal_group_tag: Some(1),
            session_type: SessionType::Normal,
            allow_discovery: true,
            allow_normal: true,
            auth_methods: &[AuthMethod::None],
            header_digests: &[Digest::None, Digest::Crc32c],
            data_digests: &[Digest::None, Digest::Crc32c],
            max_connections: 1,
            initial_r2t: true,
            immediate_data: true,
            max_recv_data_segment_length: 262_144,
            max_burst_length: 1_048_576,
            first_burst_length: 65536,
            default_time2wait: 2,
            default_time2retain: 20,
            max_outstanding_r2t: 1,
            data_pdu_in_order: true,
            data_sequence_in_order: true,
            error_recovery_level: 0,
            task_reporting: &[TaskReporting::Rfc3720],
            iscsi_protocol_level: 1,
            rdma_extensions: false,
            target_recv_data_segment_length: 8192,
            initiator_recv_data_segment_length: 8192,
            max_outstanding_unexpected_pdus: 0,
        }
    }

    /// Production defaults for an initiator, close to open-iscsi's: MaxRecvDataSegmentLength
    /// 262144, MaxBurstLength 16776192, FirstBurstLength 262144, ImmediateData Yes,
    /// InitialR2T No, digests None; names must be filled in.
    pub const fn initiator() -> Self {
        LocalConfig {
            session_type: SessionType::Normal,
            target_portal_group_tag: None,
            header_digests: &[Digest::None],
            data_digests: &[Digest::None],
            initial_r2t: false,
            max_burst_length: 16_776_192,
            first_burst_length: 262_144,
            ..Self::target()
        }
    }
}

/// Up to six list words in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Choices {
    words: [&'static str; 6],
    len: usize,
}

impl Choices {
    fn from_words<T: Copy>(items: &[T], word: fn(T) -> &'static str) -> Self {
        let mut c = Choices {
            words: [""; 6],
            len: 0,
        };
        for item in items {
            c.push(word(*item));
        }
        c
    }

    /// Adds `w` unless it is there already or all six places are taken (one copy for every
    /// item type of `from_words`).
    fn push(&mut self, w: &'static str) {
        if self.contains(w) {
            return;
        }
        if let Some(slot) = self.words.get_mut(self.len) {
            *slot = w;
            self.len = self.len.saturating_add(1);
        }
    }

    pub(crate) fn as_slice(&self) -> &[&'static str] {
        self.words.get(..self.len).unwrap_or_default()
    }

    pub(crate) fn contains(&self, w: &str) -> bool {
        self.as_slice().contains(&w)
    }
}

/// Our wish for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pref<'a> {
    Num(u32),
    Bool(bool),
    List(Choices),
    Text(&'a str),
    Nothing,
}

impl<'a> LocalConfig<'a> {
    /// Our wish for `key`.
    pub(crate) fn pref(&self, key: Key) -> Pref<'a> {
        match key {
            Key::HeaderDigest => Pref::List(Choices::from_words(self.header_digests, Digest::word)),
            Key::DataDigest => Pref::List(Choices::from_words(self.data_digests, Digest::word)),
            Key::AuthMethod => Pref::List(Choices::from_words(self.auth_methods, AuthMethod::word)),
            Key::TaskReporting => Pref::List(Choices::from_words(
                self.task_reporting,
                TaskReporting::word,
            )),
            Key::SessionType => {
                Pref::List(Choices::from_words(&[self.session_type], SessionType::word))
            }
            Key::MaxConnections => Pref::Num(u32::from(self.max_connections)),
            Key::InitialR2T => Pref::Bool(self.initial_r2t),
            Key::ImmediateData => Pref::Bool(self.immediate_data),
            Key::MaxRecvDataSegmentLength => Pref::Num(self.max_recv_data_segment_length),
            Key::MaxBurstLength => Pref::Num(self.max_burst_length),
            Key::FirstBurstLength => Pref::Num(self.first_burst_length),
            Key::DefaultTime2Wait => Pref::Num(u32::from(self.default_time2wait)),
            Key::DefaultTime2Retain => Pref::Num(u32::from(self.default_time2retain)),
            Key::MaxOutstandingR2T => Pref::Num(u32::from(self.max_outstanding_r2t)),
            Key::DataPDUInOrder => Pref::Bool(self.data_pdu_in_order),
            Key::DataSequenceInOrder => Pref::Bool(self.data_sequence_in_order),
            Key::ErrorRecoveryLevel => Pref::Num(u32::from(self.error_recovery_level)),
            Key::IscsiProtocolLevel => Pref::Num(u32::from(self.iscsi_protocol_level)),
            Key::RDMAExtensions => Pref::Bool(self.rdma_extensions),
            Key::TargetRecvDataSegmentLength => Pref::Num(self.target_recv_data_segment_length),
            Key::InitiatorRecvDataSegmentLength => {
                Pref::Num(self.initiator_recv_data_segment_length)
            }
            Key::MaxOutstandingUnexpectedPDUs => Pref::Num(self.max_outstanding_unexpected_pdus),
            Key::TargetPortalGroupTag => match self.target_portal_group_tag {
                Some(t) => Pref::Num(u32::from(t)),
                None => Pref::Nothing,
            },
            Key::InitiatorName => opt_text(self.initiator_name),
            Key::InitiatorAlias => opt_text(self.initiator_alias),
            Key::TargetName => opt_text(self.target_name),
            Key::TargetAlias => opt_text(self.target_alias),
            _ => Pref::Nothing,
        }
    }

    /// Checks every value against the key table's ranges and lengths.
    pub fn check(&self) -> Result<(), LocalFault> {
        for def in &KEYS {
            let ok = match (self.pref(def.key), def.kind) {
                (
                    Pref::Num(n),
                    ValueKind::Number {
                        min,
                        max,
                        zero_unlimited,
                    },
                ) => (min..=max).contains(&n) || (zero_unlimited && n == 0),
                (Pref::List(c), _) => !c.as_slice().is_empty(),
                (Pref::Text(t), _) => {
                    !t.is_empty() && t.len() <= def.max_value_len() && !t.bytes().any(|b| b == 0)
                }
                _ => true,
            };
            if !ok {
                return Err(LocalFault::Misconfigured { key: def.name });
            }
        }
        Ok(())
    }
}

fn opt_text(t: Option<&str>) -> Pref<'_> {
    match t {
        Some(t) => Pref::Text(t),
        None => Pref::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_production_defaults_are_valid() {
        assert_eq!(LocalConfig::target().check(), Ok(()));
        let mut i = LocalConfig::initiator();
        i.initiator_name = Some("iqn.2024-01.org.example:host");
        assert_eq!(i.check(), Ok(()));
    }

    #[test]
    fn test_check_catches_out_of_range() {
        let mut c = LocalConfig::target();
        c.max_burst_length = 100;
        assert_eq!(
            c.check(),
            Err(LocalFault::Misconfigured {
                key: "MaxBurstLength"
            })
        );
        let mut c = LocalConfig::target();
        c.error_recovery_level = 3;
        assert_eq!(
            c.check(),
            Err(LocalFault::Misconfigured {
                key: "ErrorRecoveryLevel"
            })
        );
        let mut c = LocalConfig::target();
        c.header_digests = &[];
        assert_eq!(
            c.check(),
            Err(LocalFault::Misconfigured {
                key: "HeaderDigest"
            })
        );
        let mut c = LocalConfig::target();
        c.max_outstanding_unexpected_pdus = 1;
        assert!(c.check().is_err());
        c.max_outstanding_unexpected_pdus = 0;
        assert!(c.check().is_ok());
    }

    #[test]
    fn test_choices_dedup_in_order() {
        let c = Choices::from_words(
            &[Digest::Crc32c, Digest::None, Digest::Crc32c],
            Digest::word,
        );
        assert_eq!(c.as_slice(), ["CRC32C", "None"]);
    }
}
