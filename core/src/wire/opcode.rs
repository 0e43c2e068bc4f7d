//! The 6-bit iSCSI opcode of byte 0 of every BHS (RFC 7143 §11.2.1.2).

wire_enum! {
    /// An iSCSI opcode (the low 6 bits of BHS byte 0; the I bit is not part of it).
    ///
    /// Initiator opcodes are 0x00–0x1f, target opcodes 0x20–0x3f (RFC 7143 §11.2.1.2).
    pub struct Opcode(u8);
    /// NOP-Out (§11.18).
    NOP_OUT = 0x00,
    /// SCSI Command (§11.3).
    SCSI_COMMAND = 0x01,
    /// SCSI Task Management Function Request (§11.5).
    TASK_MGMT_REQUEST = 0x02,
    /// Login Request (§11.12).
    LOGIN_REQUEST = 0x03,
    /// Text Request (§11.10).
    TEXT_REQUEST = 0x04,
    /// SCSI Data-Out (§11.7).
    DATA_OUT = 0x05,
    /// Logout Request (§11.14).
    LOGOUT_REQUEST = 0x06,
    /// SNACK Request (§11.16).
    SNACK_REQUEST = 0x10,
    /// NOP-In (§11.19).
    NOP_IN = 0x20,
    /// SCSI Response (§11.4).
    SCSI_RESPONSE = 0x21,
    /// SCSI Task Management Function Response (§11.6).
    TASK_MGMT_RESPONSE = 0x22,
    /// Login Response (§11.13).
    LOGIN_RESPONSE = 0x23,
    /// Text Response (§11.11).
    TEXT_RESPONSE = 0x24,
    /// SCSI Data-In (§11.7).
    DATA_IN = 0x25,
    /// Logout Response (§11.15).
    LOGOUT_RESPONSE = 0x26,
    /// Ready To Transfer (§11.8).
    R2T = 0x31,
    /// Asynchronous Message (§11.9).
    ASYNC_MESSAGE = 0x32,
    /// Reject (§11.17).
    REJECT = 0x3f,
}

impl Opcode {
    /// Mask of the opcode bits in BHS byte 0.
    pub const MASK: u8 = 0x3f;

    /// Whether this opcode is sent by initiators (0x00–0x1f) rather than targets (0x20–0x3f).
    pub const fn is_initiator_opcode(self) -> bool {
        self.0 & 0x20 == 0
    }

    /// Whether this is one of the vendor-specific initiator opcodes 0x1c–0x1f or target opcodes
    /// 0x3c–0x3e (RFC 7143 §11.2.1.2).
    pub const fn is_vendor_specific(self) -> bool {
        matches!(self.0, 0x1c..=0x1f | 0x3c..=0x3e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn initiator_and_target_opcodes() {
        for op in [
            Opcode::NOP_OUT,
            Opcode::SCSI_COMMAND,
            Opcode::TASK_MGMT_REQUEST,
            Opcode::LOGIN_REQUEST,
            Opcode::TEXT_REQUEST,
            Opcode::DATA_OUT,
            Opcode::LOGOUT_REQUEST,
            Opcode::SNACK_REQUEST,
        ] {
            assert!(op.is_initiator_opcode(), "{op:?}");
            assert!(op.is_known());
        }
        for op in [
            Opcode::NOP_IN,
            Opcode::SCSI_RESPONSE,
            Opcode::TASK_MGMT_RESPONSE,
            Opcode::LOGIN_RESPONSE,
            Opcode::TEXT_RESPONSE,
            Opcode::DATA_IN,
            Opcode::LOGOUT_RESPONSE,
            Opcode::R2T,
            Opcode::ASYNC_MESSAGE,
            Opcode::REJECT,
        ] {
            assert!(!op.is_initiator_opcode(), "{op:?}");
            assert!(op.is_known());
        }
    }

    #[test]
    fn debug_prints_names_and_unknown_in_hex() {
        assert_eq!(
            format!("{:?}", Opcode::LOGIN_REQUEST),
            "Opcode::LOGIN_REQUEST"
        );
        assert_eq!(format!("{:?}", Opcode(0x1c)), "Opcode(0x1c)");
        assert!(Opcode(0x1c).is_vendor_specific());
        assert!(!Opcode(0x1c).is_known());
    }
}
