//! SANITIZE (SBC-3 §5.19): OVERWRITE with an initialization pattern, BLOCK ERASE (thin
//! devices: every block unmapped) and EXIT FAILURE MODE. The operation runs to completion
//! inside the command (a RAM or network backend needs no background phase), so IMMED only
//! changes nothing and the unit is never seen "sanitize in progress".

use super::cdb;
use super::commands::{CmdInfo, SANITIZE_BLOCK_ERASE, SANITIZE_OVERWRITE};
use super::device::{Access, BlockDevice};
use super::lu::{no_data, LogicalUnit, ScratchBuf};
use super::sense::Sense;
use super::task::{CommandRequest, Op, ScsiTask, Start};

impl<D: BlockDevice, const N: usize, B: ScratchBuf> LogicalUnit<D, N, B> {
    pub(crate) fn start_sanitize(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let c = cmd.cdb;
        let sa = cdb::u8_at(c, 1) & 0x1f;
        let plen = cdb::be16(c, 7);
        match sa {
            SANITIZE_OVERWRITE => {
                // At least one pattern byte, at most one block of pattern.
                let bs = self.block_size();
                if plen < 5 || u32::from(plen) > bs.saturating_add(4) {
                    return Err(Sense::invalid_field_in_cdb(7, None));
                }
                self.check_writable()?;
                let task = self.new_task(info, Op::Buffered, cmd);
                self.start_buffered(task, u64::from(plen), cmd.expected_write_len)
            }
            _ => {
                if plen != 0 {
                    return Err(Sense::invalid_field_in_cdb(7, None));
                }
                if sa == SANITIZE_BLOCK_ERASE {
                    self.check_writable()?;
                    let bs = u64::from(self.block_size());
                    let len = self.dev.num_blocks().saturating_mul(bs);
                    self.dev
                        .discard(0, len)
                        .map_err(|e| e.sense(Access::Write))?;
                }
                Ok(no_data(cmd))
            }
        }
    }

    /// OVERWRITE parameter list (SBC-3 table 58): INVERT, TEST, OVERWRITE COUNT, pattern
    /// length, pattern. Every block gets the pattern repeated from its start; with INVERT the
    /// pattern is inverted on alternate passes.
    pub(crate) fn finish_sanitize(&mut self, _task: &ScsiTask, len: usize) -> Result<(), Sense> {
        let p = self.scratch.bytes().get(..len).unwrap_or(&[]);
        let b0 = cdb::u8_at(p, 0);
        let invert = b0 & 0x80 != 0;
        let count = b0 & 0x1f;
        let plen = usize::from(cdb::be16(p, 2));
        let bs = self.block_size() as usize;
        if b0 & 0x60 != 0 {
            return Err(Sense::invalid_field_in_parameter_list(0, Some(6)));
        }
        if count == 0 {
            return Err(Sense::invalid_field_in_parameter_list(0, Some(4)));
        }
        if plen == 0 || plen > bs || plen.saturating_add(4) > len {
            return Err(Sense::invalid_field_in_parameter_list(2, None));
        }
        let mut block = [0u8; 512];
        let blocks = self.dev.num_blocks();
        let fua = self.write_through(false);
        for pass in 0..count {
            let flip = if invert && pass % 2 == 1 { 0xff } else { 0 };
            for lba in 0..blocks {
                let base = self.byte_offset(lba);
                let mut off = 0usize;
                while off < bs {
                    let k = bs.saturating_sub(off).min(block.len());
                    for (i, b) in block.iter_mut().take(k).enumerate() {
                        let pi = off.saturating_add(i).checked_rem(plen).unwrap_or(0);
                        *b = self
                            .scratch
                            .bytes()
                            .get(4usize.saturating_add(pi))
                            .copied()
                            .unwrap_or(0)
                            ^ flip;
                    }
                    let piece = block.get(..k).unwrap_or(&[]);
                    self.dev
                        .write_at(base.saturating_add(off as u64), piece, fua)
                        .map_err(|e| e.sense(Access::Write))?;
                    off = off.saturating_add(k);
                }
            }
        }
        Ok(())
    }
}
