//! Login Response status: Status-Class and Status-Detail (RFC 7143 §11.13.5).

wire_enum! {
    /// Status-Class of a Login Response (RFC 7143 §11.13.5).
    pub struct StatusClass(u8);
    /// 0: the login proceeds.
    SUCCESS = 0,
    /// 1: the initiator should log in at another address (TargetAddress is returned).
    REDIRECTION = 1,
    /// 2: the initiator made a mistake; do not retry as is.
    INITIATOR_ERROR = 2,
    /// 3: the target cannot serve the request now.
    TARGET_ERROR = 3,
}

/// Status-Class and Status-Detail of a Login Response (RFC 7143 §11.13.5), with a constant for
/// every pair the RFC assigns. Other pairs survive parsing unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoginStatus {
    /// Status-Class.
    pub class: StatusClass,
    /// Status-Detail (meaning depends on the class).
    pub detail: u8,
}

impl LoginStatus {
    /// 0x0000 Success: login is proceeding OK.
    pub const SUCCESS: Self = Self::new(StatusClass::SUCCESS, 0x00);
    /// 0x0101 Target moved temporarily.
    pub const TARGET_MOVED_TEMPORARILY: Self = Self::new(StatusClass::REDIRECTION, 0x01);
    /// 0x0102 Target moved permanently.
    pub const TARGET_MOVED_PERMANENTLY: Self = Self::new(StatusClass::REDIRECTION, 0x02);
    /// 0x0200 Initiator error (miscellaneous).
    pub const INITIATOR_ERROR: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x00);
    /// 0x0201 Authentication failure.
    pub const AUTHENTICATION_FAILURE: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x01);
    /// 0x0202 Authorization failure.
    pub const AUTHORIZATION_FAILURE: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x02);
    /// 0x0203 Not found (no such target).
    pub const TARGET_NOT_FOUND: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x03);
    /// 0x0204 Target removed.
    pub const TARGET_REMOVED: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x04);
    /// 0x0205 Unsupported version.
    pub const UNSUPPORTED_VERSION: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x05);
    /// 0x0206 Too many connections.
    pub const TOO_MANY_CONNECTIONS: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x06);
    /// 0x0207 Missing parameter.
    pub const MISSING_PARAMETER: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x07);
    /// 0x0208 Can't include in session.
    pub const CANT_INCLUDE_IN_SESSION: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x08);
    /// 0x0209 Session type not supported.
    pub const SESSION_TYPE_NOT_SUPPORTED: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x09);
    /// 0x020a Session does not exist.
    pub const SESSION_DOES_NOT_EXIST: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x0a);
    /// 0x020b Invalid request during login.
    pub const INVALID_DURING_LOGIN: Self = Self::new(StatusClass::INITIATOR_ERROR, 0x0b);
    /// 0x0300 Target error (miscellaneous).
    pub const TARGET_ERROR: Self = Self::new(StatusClass::TARGET_ERROR, 0x00);
    /// 0x0301 Service unavailable.
    pub const SERVICE_UNAVAILABLE: Self = Self::new(StatusClass::TARGET_ERROR, 0x01);
    /// 0x0302 Out of resources.
    pub const OUT_OF_RESOURCES: Self = Self::new(StatusClass::TARGET_ERROR, 0x02);

    /// Every status the RFC assigns, in the order of the §11.13.5 table.
    pub const ALL: [Self; 18] = [
        Self::SUCCESS,
        Self::TARGET_MOVED_TEMPORARILY,
        Self::TARGET_MOVED_PERMANENTLY,
        Self::INITIATOR_ERROR,
        Self::AUTHENTICATION_FAILURE,
        Self::AUTHORIZATION_FAILURE,
        Self::TARGET_NOT_FOUND,
        Self::TARGET_REMOVED,
        Self::UNSUPPORTED_VERSION,
        Self::TOO_MANY_CONNECTIONS,
        Self::MISSING_PARAMETER,
        Self::CANT_INCLUDE_IN_SESSION,
        Self::SESSION_TYPE_NOT_SUPPORTED,
        Self::SESSION_DOES_NOT_EXIST,
        Self::INVALID_DURING_LOGIN,
        Self::TARGET_ERROR,
        Self::SERVICE_UNAVAILABLE,
        Self::OUT_OF_RESOURCES,
    ];

    /// A status from its class and detail.
    pub const fn new(class: StatusClass, detail: u8) -> Self {
        LoginStatus { class, detail }
    }

    /// Class in the high byte, detail in the low byte, as the RFC's table writes them.
    pub const fn to_u16(self) -> u16 {
        u16::from_be_bytes([self.class.0, self.detail])
    }

    /// From the RFC's 16-bit notation (class in the high byte).
    pub const fn from_u16(value: u16) -> Self {
        let [class, detail] = value.to_be_bytes();
        Self::new(StatusClass(class), detail)
    }

    /// Whether the class is Success.
    pub const fn is_success(self) -> bool {
        self.class.0 == StatusClass::SUCCESS.0
    }

    /// The constant's name, or `None` for a pair the RFC does not assign.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.to_u16() {
            0x0000 => "SUCCESS",
            0x0101 => "TARGET_MOVED_TEMPORARILY",
            0x0102 => "TARGET_MOVED_PERMANENTLY",
            0x0200 => "INITIATOR_ERROR",
            0x0201 => "AUTHENTICATION_FAILURE",
            0x0202 => "AUTHORIZATION_FAILURE",
            0x0203 => "TARGET_NOT_FOUND",
            0x0204 => "TARGET_REMOVED",
            0x0205 => "UNSUPPORTED_VERSION",
            0x0206 => "TOO_MANY_CONNECTIONS",
            0x0207 => "MISSING_PARAMETER",
            0x0208 => "CANT_INCLUDE_IN_SESSION",
            0x0209 => "SESSION_TYPE_NOT_SUPPORTED",
            0x020a => "SESSION_DOES_NOT_EXIST",
            0x020b => "INVALID_DURING_LOGIN",
            0x0300 => "TARGET_ERROR",
            0x0301 => "SERVICE_UNAVAILABLE",
            0x0302 => "OUT_OF_RESOURCES",
            _ => return None,
        })
    }
}

impl core::fmt::Debug for LoginStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "LoginStatus::{name}"),
            None => write!(f, "LoginStatus({:#06x})", self.to_u16()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn every_pair_is_named_and_distinct() {
        for (i, a) in LoginStatus::ALL.iter().enumerate() {
            assert!(a.name().is_some());
            assert_eq!(LoginStatus::from_u16(a.to_u16()), *a);
            for b in &LoginStatus::ALL[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(LoginStatus::TARGET_NOT_FOUND.to_u16(), 0x0203);
        assert_eq!(LoginStatus::OUT_OF_RESOURCES.to_u16(), 0x0302);
        assert_eq!(
            format!("{:?}", LoginStatus::from_u16(0x020c)),
            "LoginStatus(0x020c)"
        );
        assert!(LoginStatus::SUCCESS.is_success());
        assert!(!LoginStatus::TARGET_ERROR.is_success());
    }
}
