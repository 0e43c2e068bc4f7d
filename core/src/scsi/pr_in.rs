//! PERSISTENT RESERVE IN parameter data (SPC-4 §6.13: READ KEYS, READ RESERVATION, REPORT
//! CAPABILITIES, READ FULL STATUS with iSCSI TransportIDs §7.6.4.6) and the logical unit entry
//! points for PERSISTENT RESERVE IN / OUT.

use super::cdb;
use super::commands::CmdInfo;
use super::device::BlockDevice;
use super::identity::{FixedStr, LuIdentity};
use super::lu::{LogicalUnit, ScratchBuf};
use super::pr::{Reservations, PORT_NAME_LEN};
use super::sense::Sense;
use super::task::{CommandRequest, Op, ScsiTask, Start};
use super::window::Window;

impl<const N: usize> Reservations<N> {
    /// PERSISTENT RESERVE IN parameter data for `task`.
    pub(crate) fn pr_in_data(&self, task: &ScsiTask, id: &LuIdentity, w: &mut Window<'_>) {
        let sa = task.cdb[1] & 0x1f;
        let regs = || {
            self.pr
                .registrations
                .iter()
                .enumerate()
                .filter_map(|(i, r)| r.map(|r| (i, r)))
        };
        match sa {
            0 => {
                // READ KEYS
                w.be32(self.pr.generation);
                let n = regs().count();
                w.be32(u32::try_from(n.saturating_mul(8)).unwrap_or(0));
                for (_, r) in regs() {
                    w.be64(r.key);
                }
            }
            1 => {
                // READ RESERVATION
                w.be32(self.pr.generation);
                match self.pr.reservation {
                    None => w.be32(0),
                    Some(res) => {
                        w.be32(16);
                        w.be64(res.holder.map_or(0, |h| self.key_of(h)));
                        w.be32(0);
                        w.u8(0);
                        w.u8(res.kind.0 & 0x0f); // SCOPE 0h (logical unit), TYPE
                        w.be16(0);
                    }
                }
            }
            2 => {
                // REPORT CAPABILITIES: CRH, ATP_C, PTPL_C; TMV; all six types.
                w.be16(8);
                w.u8(0x10 | 0x04 | 0x01);
                w.u8(0x80 | u8::from(self.pr.aptpl));
                w.put(&[0xea, 0x01, 0, 0]);
            }
            _ => {
                // READ FULL STATUS
                w.be32(self.pr.generation);
                let total: usize = regs()
                    .map(|(_, r)| 24usize.saturating_add(transport_id_len(&r.initiator_port)))
                    .sum();
                w.be32(u32::try_from(total).unwrap_or(0));
                for (i, r) in regs() {
                    let holder = self.pr.reservation.is_some_and(|res| match res.holder {
                        None => true,
                        Some(h) => h == i,
                    });
                    w.be64(r.key);
                    w.be32(0);
                    w.u8(0x02 | u8::from(holder)); // ALL_TG_PT (one port), R_HOLDER
                    w.u8(if holder {
                        self.pr.reservation.map_or(0, |res| res.kind.0 & 0x0f)
                    } else {
                        0
                    });
                    w.be32(0);
                    w.be16(if r.relative_port_id == 0 {
                        id.relative_port_id
                    } else {
                        r.relative_port_id
                    });
                    let tid = transport_id_len(&r.initiator_port);
                    w.be32(u32::try_from(tid).unwrap_or(0));
                    transport_id(&r.initiator_port, w);
                }
            }
        }
    }
}

/// Length of the TransportID for an initiator port name (SPC-4 §7.6.4.6): 4-byte header and
/// the NUL-terminated name padded to a multiple of 4, at least 20 bytes.
fn transport_id_len(port: &FixedStr<PORT_NAME_LEN>) -> usize {
    (port.len().saturating_add(4) & !3)
        .saturating_add(4)
        .max(20)
}

/// iSCSI TransportID: FORMAT CODE 01b (initiator port name with ",i,0x" ISID) when the name
/// has one, else 00b (device name).
fn transport_id(port: &FixedStr<PORT_NAME_LEN>, w: &mut Window<'_>) {
    let name = port.as_bytes();
    let with_isid = name.windows(5).any(|x| x == b",i,0x");
    let total = transport_id_len(port);
    w.u8(if with_isid { 0x45 } else { 0x05 });
    w.u8(0);
    w.be16(u16::try_from(total.saturating_sub(4)).unwrap_or(0));
    w.put(name);
    w.zeros(total.saturating_sub(4).saturating_sub(name.len()));
}

impl<D: BlockDevice, const N: usize, B: ScratchBuf> LogicalUnit<D, N, B> {
    /// PERSISTENT RESERVE IN: READ KEYS, READ RESERVATION, REPORT CAPABILITIES, READ FULL
    /// STATUS (the table routes other service actions to INVALID FIELD IN CDB).
    pub(crate) fn start_pr_in(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        Ok(self.generated(info, cmd, u32::from(cdb::be16(cmd.cdb, 7)), None))
    }

    /// PERSISTENT RESERVE OUT: CDB checks now, the 24-byte parameter list through the scratch
    /// buffer, the service action in `finish`.
    pub(crate) fn start_pr_out(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        Reservations::<N>::check_pr_out_cdb(cmd.cdb)?;
        let task = self.new_task(info, Op::Buffered, cmd);
        let plen = cdb::be32(cmd.cdb, 5);
        self.start_buffered(task, u64::from(plen), cmd.expected_write_len)
    }
}
