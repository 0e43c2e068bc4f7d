//! REPORT SUPPORTED OPERATION CODES (SPC-4 §6.35), generated from the one command table so
//! what is reported is exactly what is dispatched.

use super::cdb;
use super::commands::{CmdInfo, COMMANDS};
use super::device::BlockDevice;
use super::lu::{LogicalUnit, ScratchBuf};
use super::sense::Sense;
use super::task::{CommandRequest, ScsiTask, Start};
use super::window::Window;

/// REPORTING OPTIONS values.
const ALL: u8 = 0b000;
const ONE_NO_SA: u8 = 0b001;
const ONE_WITH_SA: u8 = 0b010;
const ONE_EITHER: u8 = 0b011;

/// Command timeouts descriptor (SPC-4 §6.35.4): length 0Ah, no timeouts reported.
const TIMEOUTS: [u8; 12] = [0, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

impl<D: BlockDevice, const N: usize, B: ScratchBuf> LogicalUnit<D, N, B> {
    fn supported(&self) -> impl Iterator<Item = &'static CmdInfo> + '_ {
        COMMANDS.iter().filter(move |c| self.supports(c))
    }

    /// Validates the REPORTING OPTIONS against the requested opcode / service action.
    pub(crate) fn start_rsoc(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let c = cmd.cdb;
        let options = cdb::u8_at(c, 2) & 0x07;
        let op = cdb::u8_at(c, 3);
        let has_sa = self.supported().any(|e| e.op.0 == op && e.sa.is_some());
        let has_plain = self.supported().any(|e| e.op.0 == op && e.sa.is_none());
        match options {
            ALL | ONE_EITHER => {}
            ONE_NO_SA if has_sa => return Err(Sense::invalid_field_in_cdb(2, Some(2))),
            ONE_WITH_SA if has_plain => return Err(Sense::invalid_field_in_cdb(2, Some(2))),
            ONE_NO_SA | ONE_WITH_SA => {}
            _ => return Err(Sense::invalid_field_in_cdb(2, Some(2))),
        }
        Ok(self.generated(info, cmd, cdb::be32(c, 6), None))
    }

    pub(crate) fn rsoc_data(&self, task: &ScsiTask, w: &mut Window<'_>) {
        let c = &task.cdb;
        let rctd = c[2] & 0x80 != 0;
        let options = c[2] & 0x07;
        if options == ALL {
            let each: u32 = if rctd { 20 } else { 8 };
            let n = u32::try_from(self.supported().count()).unwrap_or(0);
            w.be32(n.saturating_mul(each));
            for e in self.supported() {
                w.u8(e.op.0);
                w.u8(0);
                w.be16(u16::from(e.sa.unwrap_or(0)));
                w.u8(0);
                w.u8(if rctd { 0x02 } else { 0 } | u8::from(e.sa.is_some()));
                w.be16(u16::try_from(e.usage.len()).unwrap_or(0));
                if rctd {
                    w.put(&TIMEOUTS);
                }
            }
            return;
        }
        let op = c[3];
        let sa = cdb::be16(c, 4);
        let found = self.supported().find(|e| {
            e.op.0 == op
                && match (options, e.sa) {
                    (ONE_NO_SA, None) => true,
                    (ONE_WITH_SA, Some(s)) => u16::from(s) == sa,
                    (ONE_EITHER, None) => true,
                    (ONE_EITHER, Some(s)) => u16::from(s) == sa,
                    _ => false,
                }
        });
        match found {
            Some(e) => {
                w.u8(0);
                // CTDP, SUPPORT 011b: supported as in the standard.
                w.u8(if rctd { 0x80 } else { 0 } | 0x03);
                w.be16(u16::try_from(e.usage.len()).unwrap_or(0));
                w.put(e.usage);
                if rctd {
                    w.put(&TIMEOUTS);
                }
            }
            // SUPPORT 001b: not supported.
            None => w.put(&[0, 0x01, 0, 0]),
        }
    }
}
