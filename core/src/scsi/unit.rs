//! Logical unit housekeeping commands: START STOP UNIT (SBC-3 §5.20), PREVENT ALLOW MEDIUM
//! REMOVAL (§5.13), RESERVE(6)/RELEASE(6) (SPC-2 §7.21, §7.17), READ DEFECT DATA(10/12)
//! (§5.17–§5.18), REPORT TARGET PORT GROUPS (SPC-4 §6.36) and MODE SELECT(6/10) (SPC-4
//! §6.9–§6.10).

use super::cdb;
use super::commands::{Cmd, CmdInfo};
use super::device::{Access, BlockDevice};
use super::lu::{no_data, LogicalUnit, ScratchBuf};
use super::mode;
use super::sense::{AdditionalSense, Sense};
use super::task::{CommandRequest, Op, ScsiTask, Start};
use super::ua::UnitAttention;
use super::window::Window;

impl<D: BlockDevice, const N: usize, B: ScratchBuf> LogicalUnit<D, N, B> {
    /// START STOP UNIT (SBC-4 §5.25). A POWER CONDITION other than 0 is accepted without
    /// effect. START 0 flushes the cache unless NO_FLUSH. With LOEJ on a removable medium,
    /// START 0 ejects it (NOT READY, MEDIUM NOT PRESENT until loaded) and START 1 loads it;
    /// both are refused with MEDIUM REMOVAL PREVENTED while any nexus prevents removal
    /// (§5.15). The unit never enters the stopped power condition: an emulated medium has no
    /// motor, so it stays ready for medium access, as LIO and tgt do and libiscsi's
    /// StartStopUnit tests expect. LOEJ on a fixed medium only flushes.
    pub(crate) fn start_stop_unit(&mut self, cmd: &CommandRequest<'_>) -> Result<Start, Sense> {
        let b4 = cdb::u8_at(cmd.cdb, 4);
        if b4 >> 4 != 0 {
            return Ok(no_data(cmd));
        }
        let start = b4 & 0x01 != 0;
        let loej = b4 & 0x02 != 0;
        let no_flush = b4 & 0x04 != 0;
        let prevented = self.prevent.iter().any(|p| *p);
        let removable = self.cfg.removable;
        if loej && prevented && (removable || !start) {
            return Err(Sense::illegal_request(
                AdditionalSense::MEDIUM_REMOVAL_PREVENTED,
            ));
        }
        if !start && !no_flush && !self.ejected {
            self.dev.flush().map_err(|e| e.sense(Access::Write))?;
        }
        if loej && removable {
            self.ejected = !start;
        }
        Ok(no_data(cmd))
    }

    /// PREVENT ALLOW MEDIUM REMOVAL: PREVENT 01b prevents, 00b allows (per nexus); 1xb is
    /// obsolete and refused.
    pub(crate) fn start_prevent_allow(&mut self, cmd: &CommandRequest<'_>) -> Result<Start, Sense> {
        let p = cdb::u8_at(cmd.cdb, 4) & 0x03;
        if p & 0x02 != 0 {
            return Err(Sense::invalid_field_in_cdb(4, Some(1)));
        }
        if let Some(slot) = self.prevent.get_mut(usize::from(cmd.nexus.0)) {
            *slot = p == 0x01;
        }
        Ok(no_data(cmd))
    }

    /// RESERVE(6): the nexus gets an SPC-2 reservation of the whole logical unit. Refused
    /// (RESERVATION CONFLICT) while another nexus holds one or persistent reservation
    /// registrations exist (SPC-4 §5.13.3).
    pub(crate) fn start_reserve6(&mut self, cmd: &CommandRequest<'_>) -> Result<Start, Sense> {
        if self.res.reserve6(cmd.nexus) {
            Ok(no_data(cmd))
        } else {
            Ok(Start::Done(
                super::completion::Completion::RESERVATION_CONFLICT,
            ))
        }
    }

    /// RELEASE(6): releases the nexus's own reservation; from any other nexus it succeeds
    /// without effect (SPC-2 §7.17).
    pub(crate) fn start_release6(&mut self, cmd: &CommandRequest<'_>) -> Result<Start, Sense> {
        self.res.release6(cmd.nexus);
        Ok(no_data(cmd))
    }

    /// READ DEFECT DATA(10/12): an empty defect list in the requested format.
    pub(crate) fn start_read_defect_data(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let alloc = if info.usage.len() == 10 {
            u32::from(cdb::be16(cmd.cdb, 7))
        } else {
            cdb::be32(cmd.cdb, 6)
        };
        Ok(self.generated(info, cmd, alloc, None))
    }

    pub(crate) fn defect_data(&self, task: &ScsiTask, w: &mut Window<'_>) {
        if task.cdb[0] == 0x37 {
            // Header (SBC-3 table 70): PLISTV, GLISTV and format echo the request, no entries.
            w.put(&[0, task.cdb[2] & 0x1f, 0, 0]);
        } else {
            w.put(&[0, task.cdb[1] & 0x1f, 0, 0, 0, 0, 0, 0]);
        }
    }

    /// REPORT TARGET PORT GROUPS: PARAMETER DATA FORMAT 000b or 001b (extended header).
    pub(crate) fn start_rtpg(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        if cdb::u8_at(cmd.cdb, 1) >> 5 > 1 {
            return Err(Sense::invalid_field_in_cdb(1, Some(7)));
        }
        Ok(self.generated(info, cmd, cdb::be32(cmd.cdb, 6), None))
    }

    /// One target port group, active/optimized, holding our one target port (SPC-4 table
    /// 165–168).
    pub(crate) fn rtpg_data(&self, task: &ScsiTask, w: &mut Window<'_>) {
        let extended = task.cdb[1] >> 5 == 1;
        let groups_len: u32 = 8 + 4;
        if extended {
            w.be32(groups_len.saturating_add(4));
            w.put(&[0x10, 0, 0, 0]); // FORMAT TYPE 001b, IMPLICIT TRANSITION TIME 0
        } else {
            w.be32(groups_len);
        }
        // ASYMMETRIC ACCESS STATE 0h (active/optimized), AO_SUP only.
        w.put(&[0x00, 0x01]);
        w.be16(self.id.port_group);
        w.put(&[0, 0, 0, 1]); // reserved, status code, vendor specific, TARGET PORT COUNT
        w.put(&[0, 0]);
        w.be16(self.id.relative_port_id);
    }

    /// MODE SELECT(6/10): PF must be 1 and SP 0 (no saved pages); the parameter list is
    /// collected in the scratch buffer and applied in `finish`.
    pub(crate) fn start_mode_select(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let b1 = cdb::u8_at(cmd.cdb, 1);
        if b1 & 0x10 == 0 {
            return Err(Sense::invalid_field_in_cdb(1, Some(4)));
        }
        if b1 & 0x01 != 0 {
            return Err(Sense::invalid_field_in_cdb(1, Some(0)));
        }
        let plen = if info.usage.len() == 10 {
            cdb::be16(cmd.cdb, 7)
        } else {
            u16::from(cdb::u8_at(cmd.cdb, 4))
        };
        if plen == 0 {
            return Ok(no_data(cmd));
        }
        let task = self.new_task(info, Op::Buffered, cmd);
        self.start_buffered(task, u64::from(plen), cmd.expected_write_len)
    }

    /// Applies a MODE SELECT parameter list: header, optional block descriptor (must match
    /// the medium), then pages. Only changeable bits may differ from the current values; a
    /// change raises MODE PARAMETERS CHANGED for the other nexuses (SPC-4 §7.5.1).
    pub(crate) fn finish_mode_select(&mut self, task: &ScsiTask, len: usize) -> Result<(), Sense> {
        let ten = task.cmd == Cmd::ModeSelect && task.cdb[0] == 0x55;
        let p = self.scratch.bytes().get(..len).unwrap_or(&[]);
        let (hdr, bd_len) = if ten {
            (8usize, usize::from(cdb::be16(p, 6)))
        } else {
            (4usize, usize::from(cdb::u8_at(p, 3)))
        };
        if hdr > len {
            return Err(Sense::illegal_request(
                AdditionalSense::PARAMETER_LIST_LENGTH_ERROR,
            ));
        }
        let long = ten && cdb::u8_at(p, 4) & 0x01 != 0;
        let bd = p
            .get(hdr..hdr.saturating_add(bd_len))
            .ok_or(Sense::illegal_request(
                AdditionalSense::PARAMETER_LIST_LENGTH_ERROR,
            ))?;
        let bs = self.block_size();
        match (bd_len, long) {
            (0, _) => {}
            (8, false) => {
                if cdb::be24(bd, 5) != bs {
                    return Err(param_field(hdr.saturating_add(5)));
                }
            }
            (16, true) => {
                if cdb::be32(bd, 12) != bs {
                    return Err(param_field(hdr.saturating_add(12)));
                }
            }
            _ => return Err(param_field(if ten { 6 } else { 3 })),
        }
        let mut next = self.mode;
        let facts = self.device_facts();
        let mut at = hdr.saturating_add(bd_len);
        while at < len {
            let page = p.get(at..).unwrap_or(&[]);
            let code = cdb::u8_at(page, 0);
            if code & 0x40 != 0 {
                return Err(param_field(at)); // SPF: no subpages
            }
            let plen = usize::from(cdb::u8_at(page, 1)).saturating_add(2);
            let body = page.get(..plen).ok_or(Sense::illegal_request(
                AdditionalSense::PARAMETER_LIST_LENGTH_ERROR,
            ))?;
            let Some((current, mask, expect_len)) =
                mode::page_bytes(code & 0x3f, &self.mode, &facts)
            else {
                return Err(param_field(at));
            };
            if expect_len != plen {
                return Err(param_field(at.saturating_add(1)));
            }
            for (i, ((b, c), m)) in body.iter().zip(&current).zip(&mask).enumerate().skip(2) {
                if (b ^ c) & !m != 0 {
                    return Err(param_field(at.saturating_add(i)));
                }
            }
            mode::apply_page(code & 0x3f, body, &mut next);
            at = at.saturating_add(plen);
        }
        if next != self.mode {
            self.mode = next;
            self.ua
                .raise_all(UnitAttention::ModeParametersChanged, Some(task.nexus));
        }
        Ok(())
    }
}

fn param_field(byte: usize) -> Sense {
    Sense::invalid_field_in_parameter_list(u16::try_from(byte).unwrap_or(u16::MAX), None)
}
