//! The one table of login and text keys: RFC 7143 §13 (operational), §12 (security), §13.26
//! (obsolete markers) and RFC 7145 §6 (iSER). The negotiator, the defaults of
//! [`Negotiated`](super::Negotiated) and the reader's value limits all come from [`KEYS`].

use crate::wire::text::MAX_VALUE_LEN;

/// Which end of the login a party is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// The initiator: sends Login/Text requests.
    Initiator,
    /// The target: sends Login/Text responses.
    Target,
}

impl Role {
    /// The other end.
    pub const fn peer(self) -> Role {
        match self {
            Role::Initiator => Role::Target,
            Role::Target => Role::Initiator,
        }
    }
}

/// What values a key takes (RFC 7143 §6.1, §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ValueKind {
    /// An unsigned number in `min..=max`; with `zero_unlimited`, 0 is also legal and means
    /// "no limit" (RFC 7145 §6 MaxOutstandingUnexpectedPDUs).
    Number {
        /// Smallest legal value.
        min: u32,
        /// Largest legal value.
        max: u32,
        /// 0 is legal and means unlimited.
        zero_unlimited: bool,
    },
    /// `Yes` or `No`.
    Boolean,
    /// A comma-separated list of these words when offered, one of them when answered.
    List(&'static [&'static str]),
    /// Free UTF-8 text of at most `max_len` bytes (names, aliases, addresses, security values).
    Text {
        /// Longest value in bytes.
        max_len: u16,
    },
    /// An obsolete key whose value is not looked at (RFC 7143 §13.26).
    Obsolete,
}

/// A key's value when it is never exchanged (RFC 7143 §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum DefaultValue {
    /// A number.
    Num(u32),
    /// A boolean.
    Bool(bool),
    /// One of a list's words.
    Word(&'static str),
    /// No default (names, aliases, security keys).
    Nothing,
}

/// How the outcome is computed from what both sides sent (RFC 7143 §6.2.2, §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ResultFn {
    /// The smaller number; the answer must not exceed the offer.
    Min,
    /// The larger number; the answer must not be below the offer.
    Max,
    /// Boolean AND; an offer of `No` needs no answer.
    And,
    /// Boolean OR; an offer of `Yes` needs no answer.
    Or,
    /// The acceptor answers the first offered value it supports.
    List,
    /// No negotiation: each side states its own value (RFC 7143 §6.2 "declarative").
    Declarative,
    /// Declarative, but the receiver may answer with a smaller value of its own; the outcome is
    /// the smallest value either side sent, 0 meaning unlimited (RFC 7145 §6).
    DeclaredMin,
    /// Obsolete: answered with this constant whatever is offered (RFC 7143 §13.26).
    Fixed(&'static str),
    /// Not negotiated here: handed to the caller (CHAP_* to the authentication layer,
    /// SendTargets to the discovery layer).
    Caller,
}

/// When a key may be sent (RFC 7143 §13 "Use").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Phase {
    /// Security negotiation stage only.
    Security,
    /// The first PDU of a login, in either stage ("IO", initialize only: names, SessionType,
    /// TargetPortalGroupTag).
    Login,
    /// Login, normally the operational negotiation stage.
    Operational,
    /// Login and full feature phase text negotiation ("ALL").
    All,
    /// Full feature phase only ("FFPO": SendTargets).
    FullFeature,
}

/// Whether a key binds a connection or the whole session (RFC 7143 §13 "Scope").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scope {
    /// Session-wide ("SW").
    Session,
    /// Connection only ("CO").
    Connection,
}

/// Who may send a key (RFC 7143 §13 "Senders").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Senders {
    /// Only the initiator.
    Initiator,
    /// Only the target.
    Target,
    /// Either side.
    Both,
}

impl Senders {
    /// Whether `role` may send the key.
    pub const fn allows(self, role: Role) -> bool {
        matches!(
            (self, role),
            (Senders::Both, _)
                | (Senders::Initiator, Role::Initiator)
                | (Senders::Target, Role::Target)
        )
    }
}

/// When a key is "Irrelevant" (RFC 7143 §13, RFC 7145 §6 "Irrelevant when").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Relevance {
    /// Always relevant.
    Always,
    /// Irrelevant when SessionType=Discovery.
    NormalSession,
    /// Irrelevant when RDMAExtensions=No (RFC 7145 §6).
    Rdma,
    /// Not used when RDMAExtensions=Yes (RFC 7145 §6: iSER replaces MaxRecvDataSegmentLength
    /// with Target/InitiatorRecvDataSegmentLength); still accepted if sent.
    Tcp,
}

/// One row of the key table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KeyDef {
    /// The key as a Rust value.
    pub key: Key,
    /// The key as it appears on the wire.
    pub name: &'static str,
    /// The values it takes.
    pub kind: ValueKind,
    /// Its value when never exchanged.
    pub default: DefaultValue,
    /// How the outcome is computed.
    pub result: ResultFn,
    /// When it may be sent.
    pub phase: Phase,
    /// Session or connection.
    pub scope: Scope,
    /// Negotiated on the leading connection only ("LO"); answered Irrelevant elsewhere.
    pub leading_only: bool,
    /// Who may send it.
    pub senders: Senders,
    /// When it is irrelevant.
    pub relevance: Relevance,
}

impl KeyDef {
    /// The longest value this key may carry, in bytes (RFC 7143 §6.1: 255 unless the key says
    /// otherwise).
    pub const fn max_value_len(&self) -> usize {
        match self.kind {
            ValueKind::Text { max_len } => max_len as usize,
            _ => MAX_VALUE_LEN,
        }
    }

    /// Whether the key's outcome is negotiated (needs or may get an answer), as opposed to
    /// declared, fixed or handed to the caller.
    pub const fn is_negotiated(&self) -> bool {
        matches!(
            self.result,
            ResultFn::Min
                | ResultFn::Max
                | ResultFn::And
                | ResultFn::Or
                | ResultFn::List
                | ResultFn::DeclaredMin
        )
    }
}

const fn num(min: u32, max: u32) -> ValueKind {
    ValueKind::Number {
        min,
        max,
        zero_unlimited: false,
    }
}
const fn text(max_len: u16) -> ValueKind {
    ValueKind::Text { max_len }
}
const BOOL: ValueKind = ValueKind::Boolean;
/// 2^24 - 1, the largest data segment length (RFC 7143 §13.12).
pub const MAX_DATA_SEGMENT_LENGTH: u32 = 16_777_215;
/// 512, the smallest data segment or burst length (RFC 7143 §13.12–§13.14).
pub const MIN_DATA_SEGMENT_LENGTH: u32 = 512;
const LEN: ValueKind = num(MIN_DATA_SEGMENT_LENGTH, MAX_DATA_SEGMENT_LENGTH);
/// iSCSI names are at most 223 bytes (RFC 7143 §4.2.7.1).
const NAME: ValueKind = text(223);
/// Encoded CHAP challenges and responses: 1024 binary bytes as `0x` + hex (RFC 7143 §12.1.3).
const CHAP_BINARY: ValueKind = text(2 + 2 * 1024);
const DIGESTS: ValueKind = ValueKind::List(&["CRC32C", "None"]);

macro_rules! key_table {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $name:literal: $kind:expr, $default:expr, $result:expr, $phase:expr,
            $scope:expr, $lo:expr, $senders:expr, $relevance:expr;
    )+) => {
        /// Every key this crate knows, in [`KEYS`] order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[non_exhaustive]
        #[allow(non_camel_case_types)]
        pub enum Key {
            $( $(#[$doc])* $variant, )+
        }

        /// Number of rows in [`KEYS`].
        pub const KEY_COUNT: usize = [$(stringify!($variant)),+].len();

        /// The key table. `Key::X as usize` is the row of `X`: both come from the same list.
        pub static KEYS: [KeyDef; KEY_COUNT] = [$(
            KeyDef {
                key: Key::$variant,
                name: $name,
                kind: $kind,
                default: $default,
                result: $result,
                phase: $phase,
                scope: $scope,
                leading_only: $lo,
                senders: $senders,
                relevance: $relevance,
            },
        )+];
    };
}

use DefaultValue as D;
use Phase as P;
use Relevance as V;
use ResultFn as R;
use Scope as S;
use Senders as W;

// Columns: kind, default, result function, phase, scope, leading-only, senders, relevance.
key_table! {
    /// RFC 7143 §13.1.
    HeaderDigest = "HeaderDigest": DIGESTS, D::Word("None"), R::List, P::Operational, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §13.1.
    DataDigest = "DataDigest": DIGESTS, D::Word("None"), R::List, P::Operational, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §13.2.
    MaxConnections = "MaxConnections": num(1, 65535), D::Num(1), R::Min, P::Operational, S::Session, true, W::Both, V::NormalSession;
    /// RFC 7143 §13.3.
    SendTargets = "SendTargets": text(255), D::Nothing, R::Caller, P::FullFeature, S::Session, false, W::Initiator, V::Always;
    /// RFC 7143 §13.4.
    TargetName = "TargetName": NAME, D::Nothing, R::Declarative, P::Login, S::Session, false, W::Initiator, V::Always;
    /// RFC 7143 §13.5.
    InitiatorName = "InitiatorName": NAME, D::Nothing, R::Declarative, P::Login, S::Session, false, W::Initiator, V::Always;
    /// RFC 7143 §13.6.
    TargetAlias = "TargetAlias": text(255), D::Nothing, R::Declarative, P::All, S::Session, false, W::Target, V::Always;
    /// RFC 7143 §13.7.
    InitiatorAlias = "InitiatorAlias": text(255), D::Nothing, R::Declarative, P::All, S::Session, false, W::Initiator, V::Always;
    /// RFC 7143 §13.8.
    TargetAddress = "TargetAddress": text(255), D::Nothing, R::Declarative, P::All, S::Session, false, W::Target, V::Always;
    /// RFC 7143 §13.9.
    TargetPortalGroupTag = "TargetPortalGroupTag": num(0, 65535), D::Nothing, R::Declarative, P::Login, S::Session, false, W::Target, V::Always;
    /// RFC 7143 §13.10.
    InitialR2T = "InitialR2T": BOOL, D::Bool(true), R::Or, P::Operational, S::Session, true, W::Both, V::NormalSession;
    /// RFC 7143 §13.11.
    ImmediateData = "ImmediateData": BOOL, D::Bool(true), R::And, P::Operational, S::Session, true, W::Both, V::NormalSession;
    /// RFC 7143 §13.12: declared by each side for what it receives.
    MaxRecvDataSegmentLength = "MaxRecvDataSegmentLength": LEN, D::Num(8192), R::Declarative, P::All, S::Connection, false, W::Both, V::Tcp;
    /// RFC 7143 §13.13.
    MaxBurstLength = "MaxBurstLength": LEN, D::Num(262_144), R::Min, P::Operational, S::Session, true, W::Both, V::NormalSession;
    /// RFC 7143 §13.14.
    FirstBurstLength = "FirstBurstLength": LEN, D::Num(65536), R::Min, P::Operational, S::Session, true, W::Both, V::NormalSession;
    /// RFC 7143 §13.15.
    DefaultTime2Wait = "DefaultTime2Wait": num(0, 3600), D::Num(2), R::Max, P::Operational, S::Session, true, W::Both, V::Always;
    /// RFC 7143 §13.16.
    DefaultTime2Retain = "DefaultTime2Retain": num(0, 3600), D::Num(20), R::Min, P::Operational, S::Session, true, W::Both, V::Always;
    /// RFC 7143 §13.17.
    MaxOutstandingR2T = "MaxOutstandingR2T": num(1, 65535), D::Num(1), R::Min, P::Operational, S::Session, true, W::Both, V::NormalSession;
    /// RFC 7143 §13.18.
    DataPDUInOrder = "DataPDUInOrder": BOOL, D::Bool(true), R::Or, P::Operational, S::Session, true, W::Both, V::NormalSession;
    /// RFC 7143 §13.19.
    DataSequenceInOrder = "DataSequenceInOrder": BOOL, D::Bool(true), R::Or, P::Operational, S::Session, true, W::Both, V::NormalSession;
    /// RFC 7143 §13.20.
    ErrorRecoveryLevel = "ErrorRecoveryLevel": num(0, 2), D::Num(0), R::Min, P::Operational, S::Session, true, W::Both, V::Always;
    /// RFC 7143 §13.21.
    SessionType = "SessionType": ValueKind::List(&["Discovery", "Normal"]), D::Word("Normal"), R::Declarative, P::Login, S::Session, true, W::Initiator, V::Always;
    /// RFC 7143 §13.23.
    TaskReporting = "TaskReporting": ValueKind::List(&["RFC3720", "ResponseFence", "FastAbort"]), D::Word("RFC3720"), R::List, P::Operational, S::Session, true, W::Both, V::NormalSession;
    /// RFC 7143 §13.24.
    IscsiProtocolLevel = "iSCSIProtocolLevel": num(0, 31), D::Num(1), R::Min, P::Operational, S::Session, true, W::Both, V::NormalSession;
    /// RFC 7143 §12.1 (security negotiation).
    AuthMethod = "AuthMethod": ValueKind::List(&["KRB5", "SRP", "SPKM1", "SPKM2", "CHAP", "None"]), D::Word("None"), R::List, P::Security, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §12.1.3: CHAP algorithm.
    CHAP_A = "CHAP_A": text(255), D::Nothing, R::Caller, P::Security, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §12.1.3: CHAP identifier.
    CHAP_I = "CHAP_I": text(255), D::Nothing, R::Caller, P::Security, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §12.1.3: CHAP challenge.
    CHAP_C = "CHAP_C": CHAP_BINARY, D::Nothing, R::Caller, P::Security, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §12.1.3: CHAP name.
    CHAP_N = "CHAP_N": text(255), D::Nothing, R::Caller, P::Security, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §12.1.3: CHAP response.
    CHAP_R = "CHAP_R": CHAP_BINARY, D::Nothing, R::Caller, P::Security, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §13.26 (obsolete): answered `No`.
    IFMarker = "IFMarker": ValueKind::Obsolete, D::Bool(false), R::Fixed("No"), P::Operational, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §13.26 (obsolete): answered `No`.
    OFMarker = "OFMarker": ValueKind::Obsolete, D::Bool(false), R::Fixed("No"), P::Operational, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §13.26 (obsolete): answered `Reject`, as the RFC requires and Linux LIO does.
    OFMarkInt = "OFMarkInt": ValueKind::Obsolete, D::Nothing, R::Fixed("Reject"), P::Operational, S::Connection, false, W::Both, V::Always;
    /// RFC 7143 §13.26 (obsolete): answered `Reject`, as the RFC requires and Linux LIO does.
    IFMarkInt = "IFMarkInt": ValueKind::Obsolete, D::Nothing, R::Fixed("Reject"), P::Operational, S::Connection, false, W::Both, V::Always;
    /// RFC 7145 §6.
    RDMAExtensions = "RDMAExtensions": BOOL, D::Bool(false), R::And, P::Operational, S::Session, true, W::Both, V::Always;
    /// RFC 7145 §6.
    TargetRecvDataSegmentLength = "TargetRecvDataSegmentLength": LEN, D::Num(8192), R::DeclaredMin, P::Operational, S::Connection, false, W::Both, V::Rdma;
    /// RFC 7145 §6.
    InitiatorRecvDataSegmentLength = "InitiatorRecvDataSegmentLength": LEN, D::Num(8192), R::DeclaredMin, P::Operational, S::Connection, false, W::Both, V::Rdma;
    /// RFC 7145 §6.
    MaxOutstandingUnexpectedPDUs = "MaxOutstandingUnexpectedPDUs": ValueKind::Number { min: 2, max: u32::MAX, zero_unlimited: true }, D::Num(0), R::DeclaredMin, P::Operational, S::Session, true, W::Both, V::Rdma;
}

impl Key {
    /// This key's row in [`KEYS`].
    pub fn def(self) -> &'static KeyDef {
        // `Key` and `KEYS` are generated from one list, so every discriminant is a valid row.
        #[allow(clippy::indexing_slicing)]
        &KEYS[self as usize]
    }

    /// The key's wire name.
    pub fn name(self) -> &'static str {
        self.def().name
    }
}

/// The row and table index for a wire key name (case-sensitive, RFC 7143 §6.1).
pub fn lookup(name: &str) -> Option<(usize, &'static KeyDef)> {
    KEYS.iter().enumerate().find(|(_, d)| d.name == name)
}

/// The longest value `key` may carry: the table's limit, [`MAX_VALUE_LEN`] for unknown keys.
/// Pass to [`TextReader::with_value_limit`](crate::wire::text::TextReader::with_value_limit).
pub fn value_limit(key: &str) -> usize {
    lookup(key).map_or(MAX_VALUE_LEN, |(_, d)| d.max_value_len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::wire::text::check_key;

    #[test]
    fn test_table_order_matches_enum() {
        for (i, d) in KEYS.iter().enumerate() {
            assert_eq!(d.key as usize, i, "{}", d.name);
            assert_eq!(d.key.def().name, d.name);
            assert_eq!(lookup(d.name).unwrap().0, i);
        }
        assert_eq!(KEY_COUNT, 38);
    }

    #[test]
    fn test_table_names_are_valid_and_unique() {
        for (i, d) in KEYS.iter().enumerate() {
            assert!(check_key(d.name.as_bytes()).is_ok(), "{}", d.name);
            assert!(KEYS[i + 1..].iter().all(|e| e.name != d.name), "{}", d.name);
        }
    }

    #[test]
    fn test_table_defaults_match_kinds() {
        for d in &KEYS {
            match (d.kind, d.default) {
                (
                    ValueKind::Number {
                        min,
                        max,
                        zero_unlimited,
                    },
                    DefaultValue::Num(n),
                ) => {
                    assert!(
                        (min..=max).contains(&n) || (zero_unlimited && n == 0),
                        "{}",
                        d.name
                    )
                }
                (ValueKind::Boolean, DefaultValue::Bool(_)) => {}
                (ValueKind::List(words), DefaultValue::Word(w)) => {
                    assert!(words.contains(&w), "{}", d.name)
                }
                (ValueKind::Obsolete, _) | (_, DefaultValue::Nothing) => {}
                other => panic!("{}: {other:?}", d.name),
            }
        }
    }

    #[test]
    fn test_rfc_facts() {
        let d = Key::MaxBurstLength.def();
        assert_eq!(d.default, DefaultValue::Num(262_144));
        assert_eq!(d.result, ResultFn::Min);
        assert!(d.leading_only);
        assert_eq!(Key::DefaultTime2Wait.def().result, ResultFn::Max);
        assert_eq!(Key::InitialR2T.def().result, ResultFn::Or);
        assert_eq!(Key::ImmediateData.def().result, ResultFn::And);
        assert_eq!(Key::RDMAExtensions.def().result, ResultFn::And);
        assert_eq!(Key::RDMAExtensions.def().default, DefaultValue::Bool(false));
        assert_eq!(Key::MaxRecvDataSegmentLength.def().scope, Scope::Connection);
        assert_eq!(Key::SendTargets.def().phase, Phase::FullFeature);
        assert_eq!(Key::IscsiProtocolLevel.name(), "iSCSIProtocolLevel");
        assert_eq!(
            Key::MaxOutstandingUnexpectedPDUs.def().kind,
            ValueKind::Number {
                min: 2,
                max: u32::MAX,
                zero_unlimited: true
            }
        );
    }

    #[test]
    fn test_value_limit() {
        assert_eq!(value_limit("CHAP_C"), 2050);
        assert_eq!(value_limit("TargetName"), 223);
        assert_eq!(value_limit("X-unknown"), 255);
    }
}
