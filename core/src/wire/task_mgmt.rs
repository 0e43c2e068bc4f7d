//! SCSI Task Management Function Request (RFC 7143 §11.5) and Response (RFC 7143 §11.6).
//!
//! Reserved fields are ignored on receipt (RFC 7143 §11.2) and written as zero.

use super::bhs::{Bhs, Lun, FINAL_BIT};
use super::error::WireError;
use super::opcode::Opcode;

mod field {
    pub const REFERENCED_TASK_TAG: usize = 20; // request
    pub const CMD_SN: usize = 24; // request
    pub const EXP_STAT_SN: usize = 28; // request
    pub const REF_CMD_SN: usize = 32; // request
    pub const EXP_DATA_SN: usize = 36; // request
    pub const RESPONSE: usize = 2; // response
    pub const STAT_SN: usize = 24; // response
    pub const EXP_CMD_SN: usize = 28; // response
    pub const MAX_CMD_SN: usize = 32; // response
}

const FUNCTION_MASK: u8 = 0x7f;

wire_enum! {
    /// The Function field of a Task Management Function Request (RFC 7143 §11.5.1; 9–12 are
    /// added by RFC 7144).
    pub struct TaskMgmtFunction(u8);
    /// ABORT TASK: abort the task named by the Referenced Task Tag.
    ABORT_TASK = 1,
    /// ABORT TASK SET: abort all tasks of this session on the LU.
    ABORT_TASK_SET = 2,
    /// CLEAR ACA.
    CLEAR_ACA = 3,
    /// CLEAR TASK SET: abort all tasks on the LU.
    CLEAR_TASK_SET = 4,
    /// LOGICAL UNIT RESET.
    LOGICAL_UNIT_RESET = 5,
    /// TARGET WARM RESET.
    TARGET_WARM_RESET = 6,
    /// TARGET COLD RESET.
    TARGET_COLD_RESET = 7,
    /// TASK REASSIGN (connection allegiance reassignment, ErrorRecoveryLevel 2).
    TASK_REASSIGN = 8,
    /// QUERY TASK (RFC 7144).
    QUERY_TASK = 9,
    /// QUERY TASK SET (RFC 7144).
    QUERY_TASK_SET = 10,
    /// I_T NEXUS RESET (RFC 7144).
    I_T_NEXUS_RESET = 11,
    /// QUERY ASYNCHRONOUS EVENT (RFC 7144).
    QUERY_ASYNC_EVENT = 12,
}

wire_enum! {
    /// The Response field of a Task Management Function Response (RFC 7143 §11.6.1; 7 is
    /// added by RFC 7144).
    pub struct TaskMgmtResponse(u8);
    /// Function complete.
    FUNCTION_COMPLETE = 0,
    /// Task does not exist.
    TASK_DOES_NOT_EXIST = 1,
    /// LUN does not exist.
    LUN_DOES_NOT_EXIST = 2,
    /// Task still allegiant.
    TASK_STILL_ALLEGIANT = 3,
    /// Task allegiance reassignment not supported.
    TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED = 4,
    /// Task management function not supported.
    FUNCTION_NOT_SUPPORTED = 5,
    /// Function authorization failed.
    FUNCTION_AUTHORIZATION_FAILED = 6,
    /// Function succeeded (RFC 7144, for the QUERY functions).
    FUNCTION_SUCCEEDED = 7,
    /// Function rejected.
    FUNCTION_REJECTED = 255,
}

/// A Task Management Function Request (RFC 7143 §11.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TaskMgmtRequestRepr {
    /// I bit.
    pub immediate: bool,
    /// Function (7 bits).
    pub function: TaskMgmtFunction,
    /// LUN (for functions that address one, §11.5.2).
    pub lun: Lun,
    /// ITT of this request.
    pub itt: u32,
    /// Referenced Task Tag: the ITT of the task to abort or reassign, else 0xffffffff (§11.5.3).
    pub referenced_task_tag: u32,
    /// CmdSN.
    pub cmd_sn: u32,
    /// ExpStatSN.
    pub exp_stat_sn: u32,
    /// RefCmdSN: CmdSN of the referenced task (ABORT TASK, §11.5.4).
    pub ref_cmd_sn: u32,
    /// ExpDataSN (TASK REASSIGN, §11.5.5).
    pub exp_data_sn: u32,
}

impl TaskMgmtRequestRepr {
    /// Reads a Task Management Function Request header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::TASK_MGMT_REQUEST)?;
        Ok(TaskMgmtRequestRepr {
            immediate: bhs.immediate(),
            function: TaskMgmtFunction(bhs.flags() & FUNCTION_MASK),
            lun: bhs.lun(),
            itt: bhs.itt(),
            referenced_task_tag: bhs.u32_at(field::REFERENCED_TASK_TAG),
            cmd_sn: bhs.u32_at(field::CMD_SN),
            exp_stat_sn: bhs.u32_at(field::EXP_STAT_SN),
            ref_cmd_sn: bhs.u32_at(field::REF_CMD_SN),
            exp_data_sn: bhs.u32_at(field::EXP_DATA_SN),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        if self.function.0 & !FUNCTION_MASK != 0 {
            return Err(WireError::BadField("Function"));
        }
        bhs.start(
            Opcode::TASK_MGMT_REQUEST,
            self.immediate,
            FINAL_BIT | self.function.0,
        );
        bhs.set_lun(self.lun);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::REFERENCED_TASK_TAG, self.referenced_task_tag);
        bhs.set_u32_at(field::CMD_SN, self.cmd_sn);
        bhs.set_u32_at(field::EXP_STAT_SN, self.exp_stat_sn);
        bhs.set_u32_at(field::REF_CMD_SN, self.ref_cmd_sn);
        bhs.set_u32_at(field::EXP_DATA_SN, self.exp_data_sn);
        Ok(())
    }
}

/// A Task Management Function Response (RFC 7143 §11.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TaskMgmtResponseRepr {
    /// Response.
    pub response: TaskMgmtResponse,
    /// ITT of the request.
    pub itt: u32,
    /// StatSN.
    pub stat_sn: u32,
    /// ExpCmdSN.
    pub exp_cmd_sn: u32,
    /// MaxCmdSN.
    pub max_cmd_sn: u32,
}

impl TaskMgmtResponseRepr {
    /// Reads a Task Management Function Response header.
    pub fn parse<T: AsRef<[u8]>>(bhs: &Bhs<T>) -> Result<Self, WireError> {
        bhs.expect(Opcode::TASK_MGMT_RESPONSE)?;
        Ok(TaskMgmtResponseRepr {
            response: TaskMgmtResponse(bhs.byte(field::RESPONSE)),
            itt: bhs.itt(),
            stat_sn: bhs.u32_at(field::STAT_SN),
            exp_cmd_sn: bhs.u32_at(field::EXP_CMD_SN),
            max_cmd_sn: bhs.u32_at(field::MAX_CMD_SN),
        })
    }

    /// Writes the header; TotalAHSLength and DataSegmentLength are left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, bhs: &mut Bhs<T>) -> Result<(), WireError> {
        bhs.check_len()?;
        bhs.start(Opcode::TASK_MGMT_RESPONSE, false, FINAL_BIT);
        bhs.set_byte(field::RESPONSE, self.response.0);
        bhs.set_itt(self.itt);
        bhs.set_u32_at(field::STAT_SN, self.stat_sn);
        bhs.set_u32_at(field::EXP_CMD_SN, self.exp_cmd_sn);
        bhs.set_u32_at(field::MAX_CMD_SN, self.max_cmd_sn);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::bhs::BHS_LEN;

    /// Offsets from the figures of RFC 7143 §11.5 and §11.6.
    #[test]
    fn layout() {
        let req = TaskMgmtRequestRepr {
            immediate: true,
            function: TaskMgmtFunction::ABORT_TASK,
            lun: Lun::from_index(2).unwrap(),
            itt: 0x1111_1111,
            referenced_task_tag: 0x2222_2222,
            cmd_sn: 0x3333_3333,
            exp_stat_sn: 0x4444_4444,
            ref_cmd_sn: 0x5555_5555,
            exp_data_sn: 0x6666_6666,
        };
        let mut buf = [0xaau8; BHS_LEN];
        req.emit(&mut Bhs::new_unchecked(&mut buf[..])).unwrap();
        let mut want = [0u8; BHS_LEN];
        want[0] = 0x42;
        want[1] = 0x81;
        want[9] = 2;
        want[16..20].fill(0x11);
        want[20..24].fill(0x22);
        want[24..28].fill(0x33);
        want[28..32].fill(0x44);
        want[32..36].fill(0x55);
        want[36..40].fill(0x66);
        assert_eq!(buf, want);

        let rsp = TaskMgmtResponseRepr {
            response: TaskMgmtResponse::FUNCTION_REJECTED,
            itt: 0x1111_1111,
            stat_sn: 0x3333_3333,
            exp_cmd_sn: 0x4444_4444,
            max_cmd_sn: 0x5555_5555,
        };
        rsp.emit(&mut Bhs::new_unchecked(&mut buf[..])).unwrap();
        let mut want = [0u8; BHS_LEN];
        want[0] = 0x22;
        want[1] = 0x80;
        want[2] = 0xff;
        want[16..20].fill(0x11);
        want[24..28].fill(0x33);
        want[28..32].fill(0x44);
        want[32..36].fill(0x55);
        assert_eq!(buf, want);
    }
}
