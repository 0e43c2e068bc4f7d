//! Logical block provisioning commands (SBC-3 §4.7): UNMAP (§5.28), WRITE SAME(10/16)
//! (§5.41–§5.42) and GET LBA STATUS (§5.5).

use super::cdb;
use super::commands::CmdInfo;
use super::device::{Access, BlockDevice, LbaStatus};
use super::lu::{no_data, LogicalUnit, ScratchBuf};
use super::sense::{AdditionalSense, Sense};
use super::task::{CommandRequest, Op, ScsiTask, Start};
use super::window::Window;

/// Most descriptors one GET LBA STATUS reply carries.
const MAX_LBA_STATUS_DESCRIPTORS: usize = 64;

impl<D: BlockDevice, const N: usize, B: ScratchBuf> LogicalUnit<D, N, B> {
    /// MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT: configured, and what fits the scratch buffer.
    pub(crate) fn max_unmap_descriptors(&self) -> u32 {
        let fit = self.scratch.len().saturating_sub(8) / 16;
        self.cfg
            .max_unmap_descriptors
            .min(u32::try_from(fit).unwrap_or(u32::MAX))
    }

    /// UNMAP: the parameter list (8-byte header, 16-byte block descriptors) is collected in the
    /// scratch buffer, every descriptor is checked, then all ranges are discarded.
    pub(crate) fn start_unmap(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let plen = cdb::be16(cmd.cdb, 7);
        self.check_writable()?;
        if plen == 0 {
            return Ok(no_data(cmd));
        }
        if plen < 8 {
            return Err(Sense::illegal_request(
                AdditionalSense::PARAMETER_LIST_LENGTH_ERROR,
            ));
        }
        let task = self.new_task(info, Op::Buffered, cmd);
        self.start_buffered(task, u64::from(plen), cmd.expected_write_len)
    }

    pub(crate) fn finish_unmap(&mut self, len: usize) -> Result<(), Sense> {
        let p = self.scratch.bytes().get(..len).unwrap_or(&[]);
        let data_len = usize::from(cdb::be16(p, 0));
        let bd_len = usize::from(cdb::be16(p, 2));
        // UNMAP DATA LENGTH counts from byte 2, BLOCK DESCRIPTOR DATA LENGTH from byte 8.
        if data_len.saturating_add(2) > len || bd_len.saturating_add(8) > len {
            return Err(Sense::illegal_request(
                AdditionalSense::PARAMETER_LIST_LENGTH_ERROR,
            ));
        }
        let descriptors = p.get(8..8usize.saturating_add(bd_len)).unwrap_or(&[]);
        let count = descriptors.len() / 16;
        if count > self.max_unmap_descriptors() as usize {
            return Err(Sense::invalid_field_in_parameter_list(2, None));
        }
        let num_blocks = self.dev.num_blocks();
        for (i, d) in descriptors.chunks_exact(16).enumerate() {
            let lba = cdb::be64(d, 0);
            let n = cdb::be32(d, 8);
            if lba.checked_add(u64::from(n)).is_none_or(|e| e > num_blocks) {
                return Err(Sense::illegal_request(AdditionalSense::LBA_OUT_OF_RANGE));
            }
            if n > self.cfg.max_unmap_blocks {
                let at = i.saturating_mul(16).saturating_add(16);
                return Err(Sense::invalid_field_in_parameter_list(
                    u16::try_from(at).unwrap_or(u16::MAX),
                    None,
                ));
            }
        }
        let bs = u64::from(self.block_size());
        let list = self.scratch.bytes().get(8..len).unwrap_or(&[]);
        for d in list.chunks_exact(16).take(count) {
            let (lba, n) = (cdb::be64(d, 0), u64::from(cdb::be32(d, 8)));
            if n > 0 {
                self.dev
                    .discard(lba.saturating_mul(bs), n.saturating_mul(bs))
                    .map_err(|e| e.sense(Access::Write))?;
            }
        }
        Ok(())
    }

    /// WRITE SAME(10/16): one block of Data-Out (or none with NDOB) written to every block of
    /// the range; with UNMAP on a thin device and zero data (LBPRZ), the range is unmapped
    /// instead. NUMBER OF LOGICAL BLOCKS 0 means through the last block (WSNZ=0, SBC-4
    /// §5.49), within MAXIMUM WRITE SAME LENGTH like any other count.
    pub(crate) fn start_write_same(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let c = cmd.cdb;
        let sixteen = info.usage.len() == 16;
        let b1 = cdb::u8_at(c, 1);
        let unmap = b1 & 0x08 != 0;
        let ndob = sixteen && b1 & 0x01 != 0;
        if unmap && !self.thin() {
            return Err(Sense::invalid_field_in_cdb(1, Some(3)));
        }
        let (lba, blocks) = self.write_same_range(c)?;
        self.check_writable()?;
        let bs = self.block_size();
        if ndob {
            self.write_same_zero(lba, blocks, unmap)?;
            return Ok(no_data(cmd));
        }
        if cmd.expected_write_len != bs {
            return Err(Sense::illegal_request(
                AdditionalSense::INVALID_FIELD_IN_COMMAND_IU,
            ));
        }
        let task = self.new_task(info, Op::Buffered, cmd);
        self.start_buffered(task, u64::from(bs), cmd.expected_write_len)
    }

    /// Writes zeros (or unmaps) `blocks` blocks from `lba`.
    fn write_same_zero(&mut self, lba: u64, blocks: u64, unmap: bool) -> Result<(), Sense> {
        let bs = u64::from(self.block_size());
        if unmap && self.thin() {
            return self
                .dev
                .discard(lba.saturating_mul(bs), blocks.saturating_mul(bs))
                .map_err(|e| e.sense(Access::Write));
        }
        let zeros = [0u8; 512];
        let total = blocks.saturating_mul(bs);
        let mut done = 0u64;
        let fua = self.write_through(false);
        while done < total {
            let k = total.saturating_sub(done).min(zeros.len() as u64);
            let piece = zeros.get(..usize::try_from(k).unwrap_or(0)).unwrap_or(&[]);
            self.dev
                .write_at(lba.saturating_mul(bs).saturating_add(done), piece, fua)
                .map_err(|e| e.sense(Access::Write))?;
            done = done.saturating_add(k.max(1));
        }
        Ok(())
    }

    /// The range of a WRITE SAME(10/16) CDB: LOGICAL BLOCK ADDRESS and NUMBER OF LOGICAL
    /// BLOCKS (0: to the end of the medium), checked against the medium and MAXIMUM WRITE
    /// SAME LENGTH.
    fn write_same_range(&self, c: &[u8]) -> Result<(u64, u64), Sense> {
        let (lba, blocks, len_field) = if cdb::u8_at(c, 0) == 0x93 {
            (cdb::be64(c, 2), u64::from(cdb::be32(c, 10)), 10)
        } else {
            (u64::from(cdb::be32(c, 2)), u64::from(cdb::be16(c, 7)), 7)
        };
        let blocks = if blocks == 0 {
            let end = self.dev.num_blocks();
            if lba > end {
                return Err(Sense::illegal_request(AdditionalSense::LBA_OUT_OF_RANGE));
            }
            end.saturating_sub(lba)
        } else {
            self.check_range(lba, blocks)?;
            blocks
        };
        if blocks > self.cfg.max_write_same_blocks {
            return Err(Sense::invalid_field_in_cdb(len_field, None));
        }
        Ok((lba, blocks))
    }

    pub(crate) fn finish_write_same(&mut self, task: &ScsiTask) -> Result<(), Sense> {
        let c = &task.cdb;
        let (lba, blocks) = self.write_same_range(c)?;
        let unmap = cdb::u8_at(c, 1) & 0x08 != 0;
        let bs = self.block_size() as usize;
        if unmap && self.thin() {
            // The range is unmapped whatever the Data-Out holds (as LIO does, and as
            // libiscsi's WriteSame UnmapUntilEnd expects with LBPRZ).
            return self.write_same_zero(lba, blocks, true);
        }
        let fua = self.write_through(false);
        for k in 0..blocks {
            let at = self.byte_offset(lba.saturating_add(k));
            let block = self.scratch.bytes().get(..bs).unwrap_or(&[]);
            self.dev
                .write_at(at, block, fua)
                .map_err(|e| e.sense(Access::Write))?;
        }
        Ok(())
    }

    /// GET LBA STATUS (SERVICE ACTION IN(16) 12h).
    pub(crate) fn start_get_lba_status(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let lba = cdb::be64(cmd.cdb, 2);
        if lba >= self.dev.num_blocks() {
            return Err(Sense::illegal_request(AdditionalSense::LBA_OUT_OF_RANGE));
        }
        Ok(self.generated(info, cmd, cdb::be32(cmd.cdb, 10), None))
    }

    /// LBA status descriptors from the starting LBA: as many as the allocation length holds
    /// (at least one, at most 64), each a run of blocks with one provisioning status.
    pub(crate) fn lba_status_data(&mut self, task: &ScsiTask, w: &mut Window<'_>) {
        let mut lba = cdb::be64(&task.cdb, 2);
        let alloc = cdb::be32(&task.cdb, 10) as usize;
        let max = (alloc.saturating_sub(8) / 16).clamp(1, MAX_LBA_STATUS_DESCRIPTORS);
        let mut descs = [(0u64, 0u32, 0u8); MAX_LBA_STATUS_DESCRIPTORS];
        let mut n = 0usize;
        let end = self.dev.num_blocks();
        while n < max && lba < end {
            let left = end.saturating_sub(lba).min(u64::from(u32::MAX));
            let Ok((status, run)) = self.dev.lba_status(lba, left) else {
                break;
            };
            let run = run.clamp(1, left);
            let code = match status {
                LbaStatus::Mapped => 0,
                LbaStatus::Deallocated => 1,
                LbaStatus::Anchored => 2,
            };
            if let Some(d) = descs.get_mut(n) {
                *d = (lba, u32::try_from(run).unwrap_or(u32::MAX), code);
            }
            n = n.saturating_add(1);
            lba = lba.saturating_add(run);
        }
        // PARAMETER DATA LENGTH counts from byte 4.
        w.be32(u32::try_from(n.saturating_mul(16).saturating_add(4)).unwrap_or(u32::MAX));
        w.be32(0);
        for &(l, run, code) in descs.get(..n).unwrap_or(&[]) {
            w.be64(l);
            w.be32(run);
            w.u8(code);
            w.zeros(3);
        }
    }
}
