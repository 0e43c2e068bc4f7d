//! The outcome of a login negotiation: every operational parameter (RFC 7143 §13, RFC 7145 §6),
//! starting from the table's defaults for keys never exchanged.

use super::keys::{DefaultValue, Key, Role, KEYS};
use super::value::{Alias, AuthMethod, Digest, IscsiName, SessionType, TaskReporting};

/// Every parameter a login settles. Built from [`KEYS`] defaults, then overwritten by what was
/// exchanged. Role-neutral: initiator and target of one login hold equal values.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Negotiated {
    /// SessionType (RFC 7143 §13.21).
    pub session_type: SessionType,
    /// InitiatorName (RFC 7143 §13.5).
    pub initiator_name: IscsiName,
    /// TargetName (RFC 7143 §13.4); empty in a discovery session.
    pub target_name: IscsiName,
    /// InitiatorAlias (RFC 7143 §13.7).
    pub initiator_alias: Alias,
    /// TargetAlias (RFC 7143 §13.6).
    pub target_alias: Alias,
    /// TargetAddress, e.g. from a redirection (RFC 7143 §13.8).
    pub target_address: Alias,
    /// TargetPortalGroupTag (RFC 7143 §13.9).
    pub target_portal_group_tag: Option<u16>,
    /// AuthMethod chosen in security negotiation (RFC 7143 §12.1).
    pub auth_method: AuthMethod,
    /// HeaderDigest (RFC 7143 §13.1).
    pub header_digest: Digest,
    /// DataDigest (RFC 7143 §13.1).
    pub data_digest: Digest,
    /// MaxConnections (RFC 7143 §13.2).
    pub max_connections: u16,
    /// InitialR2T (RFC 7143 §13.10).
    pub initial_r2t: bool,
    /// ImmediateData (RFC 7143 §13.11).
    pub immediate_data: bool,
    /// MaxRecvDataSegmentLength declared by the initiator: the largest data segment the target may
    /// send it (RFC 7143 §13.12).
    pub initiator_max_recv_data_segment_length: u32,
    /// MaxRecvDataSegmentLength declared by the target: the largest data segment the initiator may
    /// send it (RFC 7143 §13.12).
    pub target_max_recv_data_segment_length: u32,
    /// MaxBurstLength (RFC 7143 §13.13).
    pub max_burst_length: u32,
    /// FirstBurstLength (RFC 7143 §13.14), never above `max_burst_length`.
    pub first_burst_length: u32,
    /// DefaultTime2Wait in seconds (RFC 7143 §13.15).
    pub default_time2wait: u16,
    /// DefaultTime2Retain in seconds (RFC 7143 §13.16).
    pub default_time2retain: u16,
    /// MaxOutstandingR2T (RFC 7143 §13.17).
    pub max_outstanding_r2t: u16,
    /// DataPDUInOrder (RFC 7143 §13.18).
    pub data_pdu_in_order: bool,
    /// DataSequenceInOrder (RFC 7143 §13.19).
    pub data_sequence_in_order: bool,
    /// ErrorRecoveryLevel (RFC 7143 §13.20).
    pub error_recovery_level: u8,
    /// TaskReporting (RFC 7143 §13.23).
    pub task_reporting: TaskReporting,
    /// iSCSIProtocolLevel (RFC 7143 §13.24).
    pub iscsi_protocol_level: u8,
    /// RDMAExtensions (RFC 7145 §6): the iSER datamover is in use.
    pub rdma_extensions: bool,
    /// TargetRecvDataSegmentLength (RFC 7145 §6): the largest control-type PDU data segment the
    /// target receives under iSER.
    pub target_recv_data_segment_length: u32,
    /// InitiatorRecvDataSegmentLength (RFC 7145 §6): the largest control-type PDU data segment the
    /// initiator receives under iSER.
    pub initiator_recv_data_segment_length: u32,
    /// MaxOutstandingUnexpectedPDUs (RFC 7145 §6); 0 means unlimited.
    pub max_outstanding_unexpected_pdus: u32,
}

/// A value to store for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolved<'a> {
    Num(u32),
    Bool(bool),
    /// A list word or free text.
    Word(&'a str),
    /// The key's table default.
    Default,
}

impl Default for Negotiated {
    fn default() -> Self {
        Self::new()
    }
}

impl Negotiated {
    /// Every parameter at its RFC default (from [`KEYS`]); names empty.
    pub fn new() -> Self {
        let mut n = Negotiated {
            session_type: SessionType::Normal,
            initiator_name: IscsiName::new(),
            target_name: IscsiName::new(),
            initiator_alias: Alias::new(),
            target_alias: Alias::new(),
            target_address: Alias::new(),
            target_portal_group_tag: None,
            auth_method: AuthMethod::None,
            header_digest: Digest::None,
            data_digest: Digest::None,
            max_connections: 0,
            initial_r2t: false,
            immediate_data: false,
            initiator_max_recv_data_segment_length: 0,
            target_max_recv_data_segment_length: 0,
            max_burst_length: 0,
            first_burst_length: 0,
            default_time2wait: 0,
            default_time2retain: 0,
            max_outstanding_r2t: 0,
            data_pdu_in_order: false,
            data_sequence_in_order: false,
            error_recovery_level: 0,
            task_reporting: TaskReporting::Rfc3720,
            iscsi_protocol_level: 0,
            rdma_extensions: false,
            target_recv_data_segment_length: 0,
            initiator_recv_data_segment_length: 0,
            max_outstanding_unexpected_pdus: 0,
        };
        for def in &KEYS {
            if def.default != DefaultValue::Nothing {
                n.set(def.key, Resolved::Default, Role::Initiator);
                n.set(def.key, Resolved::Default, Role::Target);
            }
        }
        n
    }

    /// The largest data segment `role` may put in a PDU it sends: the peer's
    /// MaxRecvDataSegmentLength over TCP, its Target/InitiatorRecvDataSegmentLength under iSER.
    pub fn max_send_data_segment_length(&self, role: Role) -> u32 {
        self.max_recv_data_segment_length(role.peer())
    }

    /// The largest data segment `role` accepts in a PDU it receives.
    pub fn max_recv_data_segment_length(&self, role: Role) -> u32 {
        match (self.rdma_extensions, role) {
            (false, Role::Initiator) => self.initiator_max_recv_data_segment_length,
            (false, Role::Target) => self.target_max_recv_data_segment_length,
            (true, Role::Initiator) => self.initiator_recv_data_segment_length,
            (true, Role::Target) => self.target_recv_data_segment_length,
        }
    }

    /// Copies the session-wide, leading-only values of the leading connection's outcome (for a
    /// connection added to an existing session).
    pub fn inherit_session(&mut self, leading: &Negotiated) {
        let conn = (
            self.header_digest,
            self.data_digest,
            self.initiator_max_recv_data_segment_length,
            self.target_max_recv_data_segment_length,
            self.target_recv_data_segment_length,
            self.initiator_recv_data_segment_length,
            self.auth_method,
        );
        *self = leading.clone();
        (
            self.header_digest,
            self.data_digest,
            self.initiator_max_recv_data_segment_length,
            self.target_max_recv_data_segment_length,
            self.target_recv_data_segment_length,
            self.initiator_recv_data_segment_length,
            self.auth_method,
        ) = conn;
    }

    /// Stores `value` for `key`; `declarer` says whose MaxRecvDataSegmentLength it is. Returns
    /// `false` if the value does not fit the key (nothing stored).
    pub(crate) fn set(&mut self, key: Key, value: Resolved<'_>, declarer: Role) -> bool {
        let value = match value {
            Resolved::Default => match key.def().default {
                DefaultValue::Num(n) => Resolved::Num(n),
                DefaultValue::Bool(b) => Resolved::Bool(b),
                DefaultValue::Word(w) => Resolved::Word(w),
                DefaultValue::Nothing => return self.clear_text(key),
            },
            v => v,
        };
        match value {
            Resolved::Num(n) => self.set_num(key, n, declarer),
            Resolved::Bool(b) => self.set_bool(key, b),
            Resolved::Word(w) => self.set_word(key, w),
            Resolved::Default => false,
        }
    }

    fn set_word(&mut self, key: Key, w: &str) -> bool {
        match key {
            Key::SessionType => put(&mut self.session_type, SessionType::from_word(w)),
            Key::InitiatorName => self.initiator_name.set(w),
            Key::TargetName => self.target_name.set(w),
            Key::InitiatorAlias => self.initiator_alias.set(w),
            Key::TargetAlias => self.target_alias.set(w),
            Key::TargetAddress => self.target_address.set(w),
            Key::AuthMethod => put(&mut self.auth_method, AuthMethod::from_word(w)),
            Key::HeaderDigest => put(&mut self.header_digest, Digest::from_word(w)),
            Key::DataDigest => put(&mut self.data_digest, Digest::from_word(w)),
            Key::TaskReporting => put(&mut self.task_reporting, TaskReporting::from_word(w)),
            _ => false,
        }
    }

    fn set_bool(&mut self, key: Key, b: bool) -> bool {
        let field = match key {
            Key::InitialR2T => &mut self.initial_r2t,
            Key::ImmediateData => &mut self.immediate_data,
            Key::DataPDUInOrder => &mut self.data_pdu_in_order,
            Key::DataSequenceInOrder => &mut self.data_sequence_in_order,
            Key::RDMAExtensions => &mut self.rdma_extensions,
            _ => return false,
        };
        *field = b;
        true
    }

    fn set_num(&mut self, key: Key, n: u32, declarer: Role) -> bool {
        let field = match key {
            Key::MaxRecvDataSegmentLength => match declarer {
                Role::Initiator => &mut self.initiator_max_recv_data_segment_length,
                Role::Target => &mut self.target_max_recv_data_segment_length,
            },
            Key::MaxBurstLength => &mut self.max_burst_length,
            Key::FirstBurstLength => &mut self.first_burst_length,
            Key::TargetRecvDataSegmentLength => &mut self.target_recv_data_segment_length,
            Key::InitiatorRecvDataSegmentLength => &mut self.initiator_recv_data_segment_length,
            Key::MaxOutstandingUnexpectedPDUs => &mut self.max_outstanding_unexpected_pdus,
            Key::ErrorRecoveryLevel => {
                return put(&mut self.error_recovery_level, u8::try_from(n).ok())
            }
            Key::IscsiProtocolLevel => {
                return put(&mut self.iscsi_protocol_level, u8::try_from(n).ok())
            }
            Key::TargetPortalGroupTag => {
                return put(
                    &mut self.target_portal_group_tag,
                    u16::try_from(n).ok().map(Some),
                )
            }
            _ => {
                let field = match key {
                    Key::MaxConnections => &mut self.max_connections,
                    Key::DefaultTime2Wait => &mut self.default_time2wait,
                    Key::DefaultTime2Retain => &mut self.default_time2retain,
                    Key::MaxOutstandingR2T => &mut self.max_outstanding_r2t,
                    // Obsolete marker keys and keys handed to the caller have no field.
                    _ => return false,
                };
                return put(field, u16::try_from(n).ok());
            }
        };
        *field = n;
        true
    }

    /// The stored value for `key` (`declarer` picks whose MaxRecvDataSegmentLength).
    pub(crate) fn get(&self, key: Key, declarer: Role) -> Option<Resolved<'_>> {
        let v = match key {
            Key::HeaderDigest => Resolved::Word(self.header_digest.word()),
            Key::DataDigest => Resolved::Word(self.data_digest.word()),
            Key::AuthMethod => Resolved::Word(self.auth_method.word()),
            Key::TaskReporting => Resolved::Word(self.task_reporting.word()),
            Key::SessionType => Resolved::Word(self.session_type.word()),
            Key::MaxConnections => Resolved::Num(u32::from(self.max_connections)),
            Key::InitialR2T => Resolved::Bool(self.initial_r2t),
            Key::ImmediateData => Resolved::Bool(self.immediate_data),
            Key::MaxRecvDataSegmentLength => Resolved::Num(match declarer {
                Role::Initiator => self.initiator_max_recv_data_segment_length,
                Role::Target => self.target_max_recv_data_segment_length,
            }),
            Key::MaxBurstLength => Resolved::Num(self.max_burst_length),
            Key::FirstBurstLength => Resolved::Num(self.first_burst_length),
            Key::DefaultTime2Wait => Resolved::Num(u32::from(self.default_time2wait)),
            Key::DefaultTime2Retain => Resolved::Num(u32::from(self.default_time2retain)),
            Key::MaxOutstandingR2T => Resolved::Num(u32::from(self.max_outstanding_r2t)),
            Key::DataPDUInOrder => Resolved::Bool(self.data_pdu_in_order),
            Key::DataSequenceInOrder => Resolved::Bool(self.data_sequence_in_order),
            Key::ErrorRecoveryLevel => Resolved::Num(u32::from(self.error_recovery_level)),
            Key::IscsiProtocolLevel => Resolved::Num(u32::from(self.iscsi_protocol_level)),
            Key::RDMAExtensions => Resolved::Bool(self.rdma_extensions),
            Key::TargetRecvDataSegmentLength => Resolved::Num(self.target_recv_data_segment_length),
            Key::InitiatorRecvDataSegmentLength => {
                Resolved::Num(self.initiator_recv_data_segment_length)
            }
            Key::MaxOutstandingUnexpectedPDUs => {
                Resolved::Num(self.max_outstanding_unexpected_pdus)
            }
            _ => return None,
        };
        Some(v)
    }

    fn clear_text(&mut self, key: Key) -> bool {
        match key {
            Key::InitiatorName => self.initiator_name = IscsiName::new(),
            Key::TargetName => self.target_name = IscsiName::new(),
            Key::InitiatorAlias => self.initiator_alias = Alias::new(),
            Key::TargetAlias => self.target_alias = Alias::new(),
            Key::TargetAddress => self.target_address = Alias::new(),
            Key::TargetPortalGroupTag => self.target_portal_group_tag = None,
            _ => return false,
        }
        true
    }
}

fn put<T>(field: &mut T, value: Option<T>) -> bool {
    match value {
        Some(v) => {
            *field = v;
            true
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_defaults_are_rfc_defaults() {
        let n = Negotiated::new();
        assert_eq!(n.session_type, SessionType::Normal);
        assert_eq!(n.header_digest, Digest::None);
        assert_eq!(n.data_digest, Digest::None);
        assert_eq!(n.max_connections, 1);
        assert!(n.initial_r2t);
        assert!(n.immediate_data);
        assert_eq!(n.initiator_max_recv_data_segment_length, 8192);
        assert_eq!(n.target_max_recv_data_segment_length, 8192);
        assert_eq!(n.max_burst_length, 262_144);
        assert_eq!(n.first_burst_length, 65536);
        assert_eq!(n.default_time2wait, 2);
        assert_eq!(n.default_time2retain, 20);
        assert_eq!(n.max_outstanding_r2t, 1);
        assert!(n.data_pdu_in_order);
        assert!(n.data_sequence_in_order);
        assert_eq!(n.error_recovery_level, 0);
        assert_eq!(n.task_reporting, TaskReporting::Rfc3720);
        assert_eq!(n.iscsi_protocol_level, 1);
        assert!(!n.rdma_extensions);
        assert_eq!(n.target_recv_data_segment_length, 8192);
        assert_eq!(n.initiator_recv_data_segment_length, 8192);
        assert_eq!(n.max_outstanding_unexpected_pdus, 0);
        assert_eq!(n.auth_method, AuthMethod::None);
        assert!(n.initiator_name.is_empty());
        assert_eq!(n.target_portal_group_tag, None);
    }

    #[test]
    fn test_set_rejects_wrong_shapes() {
        let mut n = Negotiated::new();
        assert!(!n.set(Key::MaxConnections, Resolved::Num(70_000), Role::Target));
        assert_eq!(n.max_connections, 1);
        assert!(!n.set(Key::HeaderDigest, Resolved::Word("MD5"), Role::Target));
        assert!(!n.set(Key::IFMarker, Resolved::Bool(false), Role::Target));
        assert!(n.set(
            Key::MaxRecvDataSegmentLength,
            Resolved::Num(4096),
            Role::Target
        ));
        assert_eq!(n.target_max_recv_data_segment_length, 4096);
        assert_eq!(n.initiator_max_recv_data_segment_length, 8192);
    }

    #[test]
    fn test_send_and_recv_lengths_follow_transport() {
        let mut n = Negotiated::new();
        n.initiator_max_recv_data_segment_length = 262_144;
        n.target_max_recv_data_segment_length = 65536;
        assert_eq!(n.max_send_data_segment_length(Role::Target), 262_144);
        assert_eq!(n.max_send_data_segment_length(Role::Initiator), 65536);
        n.rdma_extensions = true;
        n.initiator_recv_data_segment_length = 4096;
        assert_eq!(n.max_send_data_segment_length(Role::Target), 4096);
        assert_eq!(n.max_recv_data_segment_length(Role::Target), 8192);
    }

    #[test]
    fn test_inherit_session_keeps_connection_values() {
        let mut leading = Negotiated::new();
        leading.max_burst_length = 1 << 20;
        leading.header_digest = Digest::Crc32c;
        let mut n = Negotiated::new();
        n.target_max_recv_data_segment_length = 4096;
        n.inherit_session(&leading);
        assert_eq!(n.max_burst_length, 1 << 20);
        assert_eq!(n.header_digest, Digest::None);
        assert_eq!(n.target_max_recv_data_segment_length, 4096);
    }
}
