//! Asynchronous Message (RFC 7143 §11.9): target-initiated events (logout requests, dropped
//! connections, renegotiation, SCSI asynchronous events).
//!
//! Reserved fields are ignored on receipt (RFC 7143 §11.2) and written as zero. Bytes 16–19 are
//! written as 0xffffffff, as the §11.9 figure shows, and not checked on receipt.

use super::bhs::{Bhs, Lun, FINAL_BIT, RESERVED_TAG};
use super::error::WireError;
use super::opcode::Opcode;

mod field {
    pub const STAT_SN: usize = 24;
    pub const EXP_CMD_SN: usize = 28;
    pub const MAX_CMD_SN: usize = 32;
    pub const ASYNC_EVENT: usize = 36;
    pub const ASYNC_VCODE: usize = 37;
    pub const PARAMETER1: usize = 38;
    pub const PARAMETER2: usize = 40;
    pub const PARAMETER3: usize = 42;
}

wire_enum! {
    /// AsyncEvent (RFC 7143 §11.9.1).
    pub struct AsyncEvent(u8);
    /// A SCSI asynchronous event; sense data in the data segment.
    SCSI_ASYNC_EVENT = 0,
    /// The target requests a Logout; Parameter3 is the time to do it in.
    LOGOUT_REQUEST = 1,
    /// The target will drop the connection with CID Parameter1.
    CONNECTION_DROP = 2,
    /// The target will drop all connections of the session.
    SESSION_DROP = 3,
    /// The target requests parameter negotiation on this connection.
    NEGOTIATION_REQUEST = 4,
    /// The target is terminating all tasks of this I_T nexus (task termination).
    TASK_TERMINATION = 5,
    /// Vendor-specific event; AsyncVCode says which.
    VENDOR_SPECIFIC = 255,
}

/// An Asynchronous Message (RFC 7143 §11.9). Sense and iSCSI event data, if any, are the data
/// segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AsyncMessageRepr {
    /// LUN (for SCSI asynchronous events).
    pub lun: Lun,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
    /// AsyncEvent.
    pub event: AsyncEvent,
    /// AsyncVCode (vendor code).
    pub vcode: u8,
    /// Parameter1 (event specific, §11.9.1).
    pub parameter1: u16,
    /// Parameter2.
    pub parameter2: u16,
    /// Parameter3.
    pub parameter3: u16,
}

impl AsyncMessageRepr {
    /// Reads an Asynchronous Message header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::ASYNC_MESSAGE)?;
        Ok(AsyncMessageRepr {
            lun: bhs.lun(),
            stat_sn: bhs.u32_at(field::STAT_SN),
            exp_cmd_sn: bhs.u32_at(field::EXP_CMD_SN),
            max_cmd_sn: bhs.u32_at(field::MAX_CMD_SN),
            event: AsyncEvent(bhs.byte(field::ASYNC_EVENT)),
            vcode: bhs.byte(field::ASYNC_VCODE),
            parameter1: bhs.u16_at(field::PARAMETER1),
            parameter2: bhs.u16_at(field::PARAMETER2),
            parameter3: bhs.u16_at(field::PARAMETER3),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        bhs.start(Opcode::ASYNC_MESSAGE, false, FINAL_BIT);
        bhs.set_lun(self.lun);
        bhs.set_itt(RESERVED_TAG);
        bhs.set_u32_at(field::STAT_SN, self.stat_sn);
        bhs.set_u32_at(field::EXP_CMD_SN, self.exp_cmd_sn);
        bhs.set_u32_at(field::MAX_CMD_SN, self.max_cmd_sn);
        bhs.set_byte(field::ASYNC_EVENT, self.event.0);
        bhs.set_byte(field::ASYNC_VCODE, self.vcode);
        bhs.set_u16_at(field::PARAMETER1, self.parameter1);
        bhs.set_u16_at(field::PARAMETER2, self.parameter2);
        bhs.set_u16_at(field::PARAMETER3, self.parameter3);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bhs::BHS_LEN;

    /// Offsets from the figure of RFC 7143 §11.9.
    #[test]
    fn layout() {
        let mut buf = [0xaau8; BHS_LEN];
        AsyncMessageRepr {
            lun: Lun(0x0102_0304_0506_0708),
            stat_sn: 0x3333_3333,
            exp_cmd_sn: 0x4444_4444,
            max_cmd_sn: 0x5555_5555,
            event: AsyncEvent::LOGOUT_REQUEST,
            vcode: 0x77,
            parameter1: 0x0102,
            parameter2: 0x0304,
            parameter3: 0x0506,
        }
        .emit(&mut Bhs::new_unchecked(&mut buf[..]))
        .unwrap();
        let mut want = [0u8; BHS_LEN];
        want[0] = 0x32;
        want[1] = 0x80;
        want[8..16].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        want[16..20].fill(0xff);
        want[24..28].fill(0x33);
        want[28..32].fill(0x44);
        want[32..36].fill(0x55);
        want[36..44].copy_from_slice(&[1, 0x77, 1, 2, 3, 4, 5, 6]);
        assert_eq!(buf, want);
    }
}
