//! Medium access commands of SBC-3 §5: READ, WRITE, WRITE AND VERIFY, ORWRITE, WRITE ATOMIC,
//! VERIFY, COMPARE AND WRITE, PRE-FETCH, SYNCHRONIZE CACHE and READ CAPACITY(16) data.

use super::cdb;
use super::commands::{Cmd, CmdInfo};
use super::completion::{Completion, Residual};
use super::device::{Access, BlockDevice, Provisioning};
use super::lu::{no_data, refused, LogicalUnit, ScratchBuf};
use super::sense::{AdditionalSense, Sense, SenseKey};
use super::task::{CommandRequest, Op, ScsiTask, Start, Started};
use super::window::Window;

/// LBA, block count and flags shared by the READ/WRITE/VERIFY/SYNCHRONIZE CACHE families,
/// whose fields sit at the same places for each CDB length (SBC-3 §5).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rw {
    pub lba: u64,
    pub blocks: u32,
    pub fua: bool,
    /// Byte offset of the TRANSFER LENGTH field, for field pointers.
    pub len_field: u16,
}

impl Rw {
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn decode(info: &CmdInfo, c: &[u8]) -> Rw {
        let fua = cdb::u8_at(c, 1) & 0x08 != 0;
        match info.usage.len() {
            6 => {
                let n = cdb::u8_at(c, 4);
                Rw {
                    lba: u64::from(cdb::be24(c, 1) & 0x1f_ffff),
                    // SBC-3 §5.7: TRANSFER LENGTH 0 in READ(6)/WRITE(6) means 256 blocks.
                    blocks: if n == 0 { 256 } else { u32::from(n) },
                    fua: false,
                    len_field: 4,
                }
            }
            10 => Rw {
                lba: u64::from(cdb::be32(c, 2)),
                blocks: u32::from(cdb::be16(c, 7)),
                fua,
                len_field: 7,
            },
            12 => Rw {
                lba: u64::from(cdb::be32(c, 2)),
                blocks: cdb::be32(c, 6),
                fua,
                len_field: 6,
            },
            _ => Rw {
                lba: cdb::be64(c, 2),
                blocks: cdb::be32(c, 10),
                fua,
                len_field: 10,
            },
        }
    }
}

/// Reads `data.len()` bytes of the medium at `at` in chunks and calls `f(offset, medium)`
/// for each chunk; stops early when `f` returns `Some`.
fn scan<D: BlockDevice, T>(
    dev: &mut D,
    at: u64,
    len: usize,
    mut f: impl FnMut(usize, &[u8]) -> Option<T>,
) -> Result<Option<T>, Sense> {
    let mut chunk = [0u8; 256];
    let mut done = 0usize;
    while done < len {
        let k = len.saturating_sub(done).min(chunk.len());
        let cur = chunk.get_mut(..k).unwrap_or(&mut []);
        dev.read_at(at.saturating_add(done as u64), cur)
            .map_err(|e| e.sense(Access::Read))?;
        if let Some(t) = f(done, cur) {
            return Ok(Some(t));
        }
        done = done.saturating_add(k);
    }
    Ok(None)
}

impl<D: BlockDevice, const N: usize, B: ScratchBuf> LogicalUnit<D, N, B> {
    /// Checks `lba .. lba + blocks` lies inside the medium (SBC-3 §4.5: LBA OUT OF RANGE).
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn check_range(&self, lba: u64, blocks: u64) -> Result<(), Sense> {
        match lba.checked_add(blocks) {
            Some(end) if end <= self.dev.num_blocks() => Ok(()),
            _ => Err(Sense::illegal_request(AdditionalSense::LBA_OUT_OF_RANGE)),
        }
    }

    /// Range, then MAXIMUM TRANSFER LENGTH (SBC-3 §6.5.3: INVALID FIELD IN CDB).
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn check_transfer(&self, rw: &Rw) -> Result<(), Sense> {
        self.check_range(rw.lba, u64::from(rw.blocks))?;
        if rw.blocks > self.max_transfer_blocks() {
            return Err(Sense::invalid_field_in_cdb(rw.len_field, None));
        }
        Ok(())
    }

    /// DATA PROTECT, WRITE PROTECTED when the medium or SWP forbids writes.
    pub(crate) fn check_writable(&self) -> Result<(), Sense> {
        if self.write_protected() {
            return Err(Sense::new(
                SenseKey::DATA_PROTECT,
                AdditionalSense::WRITE_PROTECTED,
            ));
        }
        Ok(())
    }

    pub(crate) fn byte_offset(&self, lba: u64) -> u64 {
        lba.saturating_mul(u64::from(self.block_size()))
    }

    pub(crate) fn bytes_of(&self, blocks: u32) -> u64 {
        u64::from(blocks).saturating_mul(u64::from(self.block_size()))
    }

    /// READ(6/10/12/16) (SBC-3 §5.8–§5.11).
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn start_read(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
        slot: &mut Option<ScsiTask>,
    ) -> Started {
        let rw = Rw::decode(info, cmd.cdb);
        if let Err(sense) = self.check_transfer(&rw) {
            return refused(sense);
        }
        let op = Op::Read {
            offset: self.byte_offset(rw.lba),
        };
        let want = self.bytes_of(rw.blocks);
        let task = slot.insert(self.new_task(info, op, cmd));
        task.begin_data_in(want, cmd.expected_read_len)
    }

    /// WRITE(6/10/12/16) (SBC-3 §5.32–§5.35) and WRITE AND VERIFY(10/12/16) (§5.36–§5.38;
    /// the verify of just-written data cannot fail here, so BYTCHK 00b and 01b both only
    /// write).
    #[cfg_attr(not(feature = "small-code"), inline(always))]
    pub(crate) fn start_write(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
        slot: &mut Option<ScsiTask>,
    ) -> Started {
        let rw = Rw::decode(info, cmd.cdb);
        if info.cmd == Cmd::WriteAndVerify && cdb::u8_at(cmd.cdb, 1) & 0x04 != 0 {
            // BYTCHK 10b and 11b are reserved for WRITE AND VERIFY.
            return refused(Sense::invalid_field_in_cdb(1, Some(2)));
        }
        if let Err(sense) = self
            .check_transfer(&rw)
            .and_then(|()| self.check_writable())
        {
            return refused(sense);
        }
        let want = self.bytes_of(rw.blocks);
        if let Some(refused) = self.refuse_partial_block(want, cmd.expected_write_len) {
            return refused.place(slot);
        }
        let op = Op::Write {
            offset: self.byte_offset(rw.lba),
            fua: self.write_through(rw.fua || info.cmd == Cmd::WriteAndVerify),
        };
        let task = slot.insert(self.new_task(info, op, cmd));
        task.begin_data_out(want, cmd.expected_write_len)
    }

    /// FUA as asked, or always when the write cache is disabled (WCE 0).
    pub(crate) fn write_through(&self, fua: bool) -> bool {
        fua || !self.mode.wce
    }

    /// When the initiator offers less data than the command needs and the cut falls inside a
    /// block, the command is refused with INVALID FIELD IN COMMAND INFORMATION UNIT (FCP-4
    /// §9.4.2 b, which libiscsi accepts) instead of writing a partial block; the completion
    /// still reports the overflow residual.
    pub(crate) fn refuse_partial_block(&self, want: u64, expected: u32) -> Option<Start> {
        let expected64 = u64::from(expected);
        let partial = expected64
            .checked_rem(u64::from(self.block_size()))
            .unwrap_or(0)
            != 0;
        (expected64 < want && partial).then(|| {
            Start::Done(
                Completion::check(Sense::illegal_request(
                    AdditionalSense::INVALID_FIELD_IN_COMMAND_IU,
                ))
                .with_residual(Residual::of(want, expected)),
            )
        })
    }

    /// ORWRITE(16) (SBC-3 §5.12, BMOP 000b): each block becomes the OR of its old contents and
    /// the Data-Out, one piece at a time.
    pub(crate) fn start_orwrite(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let rw = Rw::decode(info, cmd.cdb);
        self.check_transfer(&rw)?;
        self.check_writable()?;
        let want = self.bytes_of(rw.blocks);
        if let Some(refused) = self.refuse_partial_block(want, cmd.expected_write_len) {
            return Ok(refused);
        }
        let op = Op::OrWrite {
            offset: self.byte_offset(rw.lba),
            fua: self.write_through(rw.fua),
        };
        let task = self.new_task(info, op, cmd);
        Ok(task.data_out(want, cmd.expected_write_len))
    }

    /// ORs `d` into the medium at `at`.
    pub(crate) fn or_piece(&mut self, at: u64, d: &[u8], fua: bool) -> Result<(), Sense> {
        let mut chunk = [0u8; 256];
        for (i, piece) in d.chunks(chunk.len()).enumerate() {
            let pos = at.saturating_add((i as u64).saturating_mul(chunk.len() as u64));
            let cur = chunk.get_mut(..piece.len()).unwrap_or(&mut []);
            self.dev
                .read_at(pos, cur)
                .map_err(|e| e.sense(Access::Read))?;
            for (c, p) in cur.iter_mut().zip(piece) {
                *c |= *p;
            }
            self.dev
                .write_at(pos, cur, fua)
                .map_err(|e| e.sense(Access::Write))?;
        }
        Ok(())
    }

    /// WRITE ATOMIC(16) (SBC-4 §5.48): the data is held whole in the scratch buffer and
    /// written in one `write_at` when complete, so no other command's writes interleave.
    /// ATOMIC BOUNDARY must be 0 (no boundary support).
    pub(crate) fn start_write_atomic(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let c = cmd.cdb;
        let rw = Rw {
            lba: cdb::be64(c, 2),
            blocks: u32::from(cdb::be16(c, 12)),
            fua: cdb::u8_at(c, 1) & 0x08 != 0,
            len_field: 12,
        };
        self.check_range(rw.lba, u64::from(rw.blocks))?;
        if rw.blocks > self.scratch_blocks().min(self.max_transfer_blocks()) {
            return Err(Sense::invalid_field_in_cdb(12, None));
        }
        self.check_writable()?;
        let want = self.bytes_of(rw.blocks);
        if let Some(refused) = self.refuse_partial_block(want, cmd.expected_write_len) {
            return Ok(refused);
        }
        let task = self.new_task(info, Op::Buffered, cmd);
        self.start_buffered(task, want, cmd.expected_write_len)
    }

    pub(crate) fn finish_write_atomic(&mut self, task: &ScsiTask, len: usize) -> Result<(), Sense> {
        let lba = cdb::be64(&task.cdb, 2);
        let fua = self.write_through(cdb::u8_at(&task.cdb, 1) & 0x08 != 0);
        let at = self.byte_offset(lba);
        let data = self.scratch.bytes().get(..len).unwrap_or(&[]);
        self.dev
            .write_at(at, data, fua)
            .map_err(|e| e.sense(Access::Write))
    }

    /// VERIFY(10/12/16) (SBC-3 §5.25–§5.27): BYTCHK 00b checks the range only, 01b compares
    /// the Data-Out with the medium, 11b compares one block of Data-Out with every block.
    pub(crate) fn start_verify(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let rw = Rw::decode(info, cmd.cdb);
        let bytchk = (cdb::u8_at(cmd.cdb, 1) >> 1) & 0x03;
        if bytchk == 0b10 {
            return Err(Sense::invalid_field_in_cdb(1, Some(2)));
        }
        self.check_transfer(&rw)?;
        let offset = self.byte_offset(rw.lba);
        let (want, repeat) = match bytchk {
            0b00 => return Ok(no_data(cmd)),
            0b01 => (self.bytes_of(rw.blocks), 0),
            _ if rw.blocks == 0 => (0, 0),
            _ => (u64::from(self.block_size()), rw.blocks),
        };
        if let Some(refused) = self.refuse_partial_block(want, cmd.expected_write_len) {
            return Ok(refused);
        }
        let task = self.new_task(info, Op::Compare { offset, repeat }, cmd);
        Ok(task.data_out(want, cmd.expected_write_len))
    }

    /// Compares one Data-Out piece with the medium, recording the lowest miscompare offset.
    pub(crate) fn compare_piece(
        &mut self,
        task: &mut ScsiTask,
        base: u64,
        repeat: u32,
        offset: u32,
        d: &[u8],
    ) -> Result<(), Sense> {
        let bs = u64::from(self.block_size());
        for k in 0..repeat.max(1) {
            let block_base = if repeat == 0 {
                0
            } else {
                u64::from(k).saturating_mul(bs)
            };
            let at = base
                .saturating_add(block_base)
                .saturating_add(u64::from(offset));
            if let Some(i) = self.first_difference(at, d)? {
                let off = block_base
                    .saturating_add(u64::from(offset))
                    .saturating_add(i as u64);
                let off = u32::try_from(off).unwrap_or(u32::MAX);
                task.miscompare = Some(task.miscompare.map_or(off, |m| m.min(off)));
                break;
            }
        }
        Ok(())
    }

    /// Index of the first byte of `data` that differs from the medium at `at`.
    pub(crate) fn first_difference(
        &mut self,
        at: u64,
        data: &[u8],
    ) -> Result<Option<usize>, Sense> {
        scan(&mut self.dev, at, data.len(), |off, medium| {
            let want = data.get(off..).unwrap_or(&[]);
            medium
                .iter()
                .zip(want)
                .position(|(a, b)| a != b)
                .map(|i| off.saturating_add(i))
        })
    }

    /// COMPARE AND WRITE (SBC-3 §5.2): Data-Out is N blocks to compare then N blocks to write;
    /// both halves are held in the scratch buffer and the compare and write happen together
    /// in `finish`, which nothing else interleaves with. The Expected Data Transfer Length
    /// must be exactly 2 × N blocks.
    pub(crate) fn start_compare_and_write(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let c = cmd.cdb;
        let lba = cdb::be64(c, 2);
        let n = cdb::u8_at(c, 13);
        if n > self.max_compare_and_write_blocks() {
            return Err(Sense::invalid_field_in_cdb(13, None));
        }
        self.check_range(lba, u64::from(n))?;
        self.check_writable()?;
        let want = self.bytes_of(u32::from(n)).saturating_mul(2);
        if u64::from(cmd.expected_write_len) != want {
            return Err(Sense::invalid_field_in_cdb(13, None));
        }
        if n == 0 {
            return Ok(no_data(cmd));
        }
        let task = self.new_task(info, Op::Buffered, cmd);
        self.start_buffered(task, want, cmd.expected_write_len)
    }

    pub(crate) fn finish_compare_and_write(
        &mut self,
        task: &ScsiTask,
        len: usize,
    ) -> Result<(), Sense> {
        let c = &task.cdb;
        let at = self.byte_offset(cdb::be64(c, 2));
        let fua = self.write_through(cdb::u8_at(c, 1) & 0x08 != 0);
        let half = len / 2;
        let (verify, write) = self
            .scratch
            .bytes()
            .get(..len)
            .unwrap_or(&[])
            .split_at(half);
        let diff = scan(&mut self.dev, at, half, |off, medium| {
            let want = verify.get(off..).unwrap_or(&[]);
            medium
                .iter()
                .zip(want)
                .position(|(a, b)| a != b)
                .map(|i| off.saturating_add(i))
        })?;
        if let Some(off) = diff {
            return Err(Sense::new(
                SenseKey::MISCOMPARE,
                AdditionalSense::MISCOMPARE_DURING_VERIFY,
            )
            .with_information(u32::try_from(off).unwrap_or(u32::MAX)));
        }
        self.dev
            .write_at(at, write, fua)
            .map_err(|e| e.sense(Access::Write))
    }

    /// SYNCHRONIZE CACHE(10/16) (SBC-3 §5.22–§5.23): NUMBER OF LOGICAL BLOCKS 0 means to the
    /// end of the medium. The whole device cache is flushed.
    pub(crate) fn start_sync_cache(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let rw = Rw::decode(info, cmd.cdb);
        self.check_range(rw.lba, u64::from(rw.blocks))?;
        self.dev.flush().map_err(|e| e.sense(Access::Write))?;
        Ok(no_data(cmd))
    }

    /// PRE-FETCH(10/16) (SBC-3 §5.6–§5.7): range checked, nothing to cache; GOOD means the
    /// cache had no room for the blocks, which is always true here.
    pub(crate) fn start_prefetch(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let rw = Rw::decode(info, cmd.cdb);
        self.check_range(rw.lba, u64::from(rw.blocks))?;
        Ok(no_data(cmd))
    }

    /// READ CAPACITY(16) parameter data (SBC-3 §5.16.2, table 65).
    pub(crate) fn read_capacity16(&self, w: &mut Window<'_>) {
        w.be64(self.dev.num_blocks().saturating_sub(1));
        w.be32(self.block_size());
        w.u8(0); // P_TYPE, PROT_EN: no protection information
        w.u8(self.dev.physical_block_exponent() & 0x0f);
        let mut b14 = 0u8;
        if let Provisioning::Thin { lbprz } = self.provisioning() {
            b14 |= 0x80; // LBPME
            if lbprz {
                b14 |= 0x40;
            }
        }
        w.u8(b14);
        w.u8(0); // LOWEST ALIGNED LOGICAL BLOCK ADDRESS
        w.zeros(16);
    }
}
