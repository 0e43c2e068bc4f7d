//! [`LogicalUnit`]: one direct-access logical unit (SBC-3) over a [`BlockDevice`]: command
//! dispatch, unit attentions, the streaming data phase and resets (SAM-5 §5.11, §6.3).

use super::cdb;
use super::commands::{self, Cmd, CmdInfo};
use super::completion::{Completion, Residual};
use super::device::{Access, BlockDevice, IoError};
use super::identity::{LuConfig, LuIdentity};
use super::inquiry::{self, Inquiry, InquiryFacts};
use super::mode::{DeviceFacts, ModeSense, ModeState};
use super::sense::{AdditionalSense, Sense, SenseKey};
use super::task::{CommandRequest, NexusId, Op, ScsiTask, Start};
use super::ua::{UnitAttention, UnitAttentions};
use super::window::{measure, Window};

/// Task management resets that reach a logical unit (RFC 7143 §11.5.1, SAM-5 §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ResetKind {
    /// LOGICAL UNIT RESET: unit attention 29/03 for every nexus.
    LogicalUnitReset,
    /// TARGET WARM RESET: unit attention 29/00 for every nexus.
    TargetWarmReset,
    /// TARGET COLD RESET: as warm reset, and mode parameters return to their defaults.
    TargetColdReset,
}

/// A direct-access logical unit.
///
/// `NEXUS` is the number of I_T nexus slots kept for unit attentions (and reservations);
/// `SCRATCH` the bytes of scratch buffer for commands whose data must be held whole.
///
/// Drive it with [`start`](Self::start), then, per the returned [`Start`],
/// [`read_data`](Self::read_data) or [`write_data`](Self::write_data) any number of times and
/// [`finish`](Self::finish) once. Commands to a LUN that does not exist and REPORT LUNS go to
/// [`target`](super::target) instead (see [`target::is_target_command`](super::target::is_target_command)).
#[derive(Debug)]
pub struct LogicalUnit<D, const NEXUS: usize = 16, const SCRATCH: usize = 4096> {
    dev: D,
    id: LuIdentity,
    cfg: LuConfig,
    ua: UnitAttentions<NEXUS>,
    mode: ModeState,
}

impl<D: BlockDevice, const NEXUS: usize, const SCRATCH: usize> LogicalUnit<D, NEXUS, SCRATCH> {
    /// A logical unit over `dev`. Every nexus starts with a POWER ON, RESET unit attention.
    pub fn new(dev: D, id: LuIdentity, cfg: LuConfig) -> Self {
        let mode = ModeState::defaults(dev.has_volatile_cache());
        LogicalUnit {
            dev,
            id,
            cfg,
            ua: UnitAttentions::new(),
            mode,
        }
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The device, mutably (e.g. to resize it; then call
    /// [`raise_unit_attention`](Self::raise_unit_attention) with `CapacityChanged`).
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// The identity reported by INQUIRY.
    pub fn identity(&self) -> &LuIdentity {
        &self.id
    }

    /// Establishes unit attention `ua` for `nexus`, or for every nexus when `None`.
    pub fn raise_unit_attention(&mut self, nexus: Option<NexusId>, ua: UnitAttention) {
        match nexus {
            Some(n) => self.ua.raise(n, ua),
            None => self.ua.raise_all(ua, None),
        }
    }

    /// A task management reset (LOGICAL UNIT RESET, TARGET WARM/COLD RESET).
    pub fn reset(&mut self, kind: ResetKind) {
        let ua = match kind {
            ResetKind::LogicalUnitReset => UnitAttention::LunReset,
            ResetKind::TargetWarmReset | ResetKind::TargetColdReset => UnitAttention::PowerOnReset,
        };
        if kind == ResetKind::TargetColdReset {
            self.mode = ModeState::defaults(self.dev.has_volatile_cache());
        }
        self.ua.raise_all(ua, None);
        info!("scsi: reset {:?}", kind);
    }

    /// The I_T nexus `nexus` is gone (logout, connection loss without recovery). A new nexus
    /// later given the same index sees I_T NEXUS LOSS OCCURRED first (SPC-4 §5.14).
    pub fn nexus_lost(&mut self, nexus: NexusId) {
        self.ua.raise(nexus, UnitAttention::NexusLoss);
    }

    fn block_size(&self) -> u32 {
        self.dev.block_size()
    }

    /// MAXIMUM TRANSFER LENGTH enforced: the configured one, capped so the byte count fits
    /// the 32-bit Expected Data Transfer Length.
    fn max_transfer_blocks(&self) -> u32 {
        let cap = u32::MAX.checked_div(self.block_size()).unwrap_or(0);
        self.cfg.max_transfer_blocks.min(cap)
    }

    fn write_protected(&self) -> bool {
        self.dev.write_protected() || self.mode.swp
    }

    fn device_facts(&self) -> DeviceFacts {
        DeviceFacts {
            num_blocks: self.dev.num_blocks(),
            block_size: self.block_size(),
            write_protected: self.write_protected(),
            has_cache: self.dev.has_volatile_cache(),
        }
    }

    fn inquiry_facts(&self) -> InquiryFacts {
        InquiryFacts {
            physical_block_exponent: self.dev.physical_block_exponent(),
            provisioning: self.dev.provisioning(),
            max_transfer_blocks: self.max_transfer_blocks(),
            max_compare_and_write_blocks: 0,
            unmap: false,
            write_same: false,
            tpgs: false,
            third_party_copy: false,
        }
    }

    /// Decodes and validates a command and begins it (SAM-5 §5.4 command processing).
    ///
    /// Order of checks: a pending unit attention (except for INQUIRY, REPORT LUNS and
    /// REQUEST SENSE, SPC-4 §5.14), then the operation code and service action, reserved CDB
    /// bits against the CDB usage map, then the command's own fields.
    pub fn start(&mut self, cmd: &CommandRequest<'_>) -> Start {
        let found = commands::lookup(cmd.cdb);
        let exempt = matches!(found, Ok(c) if c.ua_exempt);
        if !exempt {
            if let Some(ua) = self.ua.take(cmd.nexus) {
                debug!("scsi: reporting unit attention {:?}", ua);
                return Start::Done(Completion::check(ua.sense()));
            }
        }
        let info = match found {
            Ok(i) => i,
            Err(e) => return Start::Done(Completion::check(e.sense())),
        };
        if cmd.cdb.len() < info.usage.len() {
            return Start::Done(Completion::check(Sense::invalid_field_in_cdb(0, None)));
        }
        if let Err(s) = cdb::check_usage(cmd.cdb, info.usage) {
            return Start::Done(Completion::check(s));
        }
        match self.dispatch(info, cmd) {
            Ok(s) => s,
            Err(s) => Start::Done(Completion::check(s)),
        }
    }

    fn dispatch(&mut self, info: &CmdInfo, cmd: &CommandRequest<'_>) -> Result<Start, Sense> {
        let c = cmd.cdb;
        match info.cmd {
            Cmd::TestUnitReady => Ok(no_data(cmd)),
            Cmd::Inquiry => {
                let q = Inquiry::parse(c)?;
                Ok(self.generated(info.cmd, cmd, q.alloc, None))
            }
            Cmd::RequestSense => {
                if cdb::u8_at(c, 1) & 0x01 != 0 {
                    // DESC: descriptor format sense data is not supported.
                    return Err(Sense::invalid_field_in_cdb(1, Some(0)));
                }
                let sense = self.ua.take(cmd.nexus).map(|u| u.sense());
                let alloc = u32::from(cdb::u8_at(c, 4));
                Ok(self.generated(info.cmd, cmd, alloc, sense))
            }
            Cmd::ModeSense6 | Cmd::ModeSense10 => {
                let m = ModeSense::parse(c, info.cmd == Cmd::ModeSense10)?;
                Ok(self.generated(info.cmd, cmd, m.alloc, None))
            }
            Cmd::ReadCapacity10 => {
                // SBC-3 §5.15: with PMI 0 the LOGICAL BLOCK ADDRESS must be 0.
                if cdb::u8_at(c, 8) & 0x01 == 0 && cdb::be32(c, 2) != 0 {
                    return Err(Sense::invalid_field_in_cdb(2, None));
                }
                Ok(self.generated(info.cmd, cmd, 8, None))
            }
            Cmd::ReadCapacity16 => {
                if cdb::u8_at(c, 14) & 0x01 == 0 && cdb::be64(c, 2) != 0 {
                    return Err(Sense::invalid_field_in_cdb(2, None));
                }
                Ok(self.generated(info.cmd, cmd, cdb::be32(c, 10), None))
            }
            Cmd::ReportLuns => {
                warn!("scsi: REPORT LUNS reached a logical unit; route it to scsi::target");
                Err(Sense::new(
                    SenseKey::HARDWARE_ERROR,
                    AdditionalSense::INTERNAL_TARGET_FAILURE,
                ))
            }
            Cmd::Read => self.start_read(info, cmd),
            Cmd::Write => self.start_write(info, cmd),
            Cmd::Verify => self.start_verify(info, cmd),
            Cmd::SyncCache => self.start_sync_cache(info, cmd),
        }
    }

    /// Begins a command whose Data-In is generated: `alloc` is its ALLOCATION LENGTH.
    fn generated(
        &self,
        kind: Cmd,
        cmd: &CommandRequest<'_>,
        alloc: u32,
        sense: Option<Sense>,
    ) -> Start {
        let mut task = ScsiTask::new(kind, Op::Generated, cmd.cdb, cmd.nexus);
        task.sense = sense;
        let total = measure(|w| self.generate(&task, w));
        task.data_in(total.min(u64::from(alloc)), cmd.expected_read_len)
    }

    /// Emits the Data-In of a generated task.
    fn generate(&self, task: &ScsiTask, w: &mut Window<'_>) {
        let c = &task.cdb;
        match task.cmd {
            Cmd::Inquiry => match Inquiry::parse(c) {
                Ok(Inquiry { vpd: None, .. }) => {
                    let f = self.inquiry_facts();
                    inquiry::standard(&self.id, 0x00, f.tpgs, f.third_party_copy, w);
                }
                Ok(Inquiry { vpd: Some(p), .. }) => {
                    inquiry::vpd(p, &self.id, &self.cfg, &self.inquiry_facts(), w)
                }
                Err(_) => {}
            },
            Cmd::RequestSense => {
                let s = task.sense.unwrap_or(Sense::new(
                    SenseKey::NO_SENSE,
                    AdditionalSense::NO_ADDITIONAL_SENSE,
                ));
                w.put(&s.to_bytes());
            }
            Cmd::ModeSense6 | Cmd::ModeSense10 => {
                if let Ok(m) = ModeSense::parse(c, task.cmd == Cmd::ModeSense10) {
                    m.generate(&self.mode, &self.device_facts(), w);
                }
            }
            Cmd::ReadCapacity10 => {
                let last = self.dev.num_blocks().saturating_sub(1);
                w.be32(u32::try_from(last).unwrap_or(u32::MAX));
                w.be32(self.block_size());
            }
            Cmd::ReadCapacity16 => {
                // SBC-3 §5.16.2, table 65.
                w.be64(self.dev.num_blocks().saturating_sub(1));
                w.be32(self.block_size());
                w.u8(0); // P_TYPE, PROT_EN: no protection information
                w.u8(self.dev.physical_block_exponent() & 0x0f);
                let mut b14 = 0u8;
                if let super::device::Provisioning::Thin { lbprz } = self.dev.provisioning() {
                    b14 |= 0x80; // LBPME
                    if lbprz {
                        b14 |= 0x40;
                    }
                }
                w.u8(b14);
                w.u8(0); // LOWEST ALIGNED LOGICAL BLOCK ADDRESS
                w.zeros(16);
            }
            _ => {}
        }
    }

    /// Checks `lba .. lba + blocks` lies inside the medium (SBC-3 §4.5: LBA OUT OF RANGE).
    fn check_range(&self, lba: u64, blocks: u64) -> Result<(), Sense> {
        match lba.checked_add(blocks) {
            Some(end) if end <= self.dev.num_blocks() => Ok(()),
            _ => Err(Sense::illegal_request(AdditionalSense::LBA_OUT_OF_RANGE)),
        }
    }

    /// Range, then MAXIMUM TRANSFER LENGTH (SBC-3 §6.5.3: INVALID FIELD IN CDB).
    fn check_transfer(&self, rw: &Rw) -> Result<(), Sense> {
        self.check_range(rw.lba, u64::from(rw.blocks))?;
        if rw.blocks > self.max_transfer_blocks() {
            return Err(Sense::invalid_field_in_cdb(rw.len_field, None));
        }
        Ok(())
    }

    fn check_writable(&self) -> Result<(), Sense> {
        if self.write_protected() {
            return Err(Sense::new(
                SenseKey::DATA_PROTECT,
                AdditionalSense::WRITE_PROTECTED,
            ));
        }
        Ok(())
    }

    fn byte_offset(&self, lba: u64) -> u64 {
        lba.saturating_mul(u64::from(self.block_size()))
    }

    fn bytes_of(&self, blocks: u32) -> u64 {
        u64::from(blocks).saturating_mul(u64::from(self.block_size()))
    }

    /// READ(6/10/12/16) (SBC-3 §5.8–§5.11).
    fn start_read(&mut self, info: &CmdInfo, cmd: &CommandRequest<'_>) -> Result<Start, Sense> {
        let rw = Rw::decode(info, cmd.cdb);
        self.check_transfer(&rw)?;
        let op = Op::Read {
            offset: self.byte_offset(rw.lba),
        };
        let task = ScsiTask::new(info.cmd, op, cmd.cdb, cmd.nexus);
        Ok(task.data_in(self.bytes_of(rw.blocks), cmd.expected_read_len))
    }

    /// WRITE(6/10/12/16) (SBC-3 §5.32–§5.35).
    fn start_write(&mut self, info: &CmdInfo, cmd: &CommandRequest<'_>) -> Result<Start, Sense> {
        let rw = Rw::decode(info, cmd.cdb);
        self.check_transfer(&rw)?;
        self.check_writable()?;
        let want = self.bytes_of(rw.blocks);
        if let Some(refused) = self.refuse_partial_block(want, cmd.expected_write_len) {
            return Ok(refused);
        }
        // With the write cache disabled every write is write-through.
        let fua = rw.fua || !self.mode.wce;
        let op = Op::Write {
            offset: self.byte_offset(rw.lba),
            fua,
        };
        let task = ScsiTask::new(info.cmd, op, cmd.cdb, cmd.nexus);
        Ok(task.data_out(want, cmd.expected_write_len))
    }

    /// When the initiator offers less data than the command needs and the cut falls inside a
    /// block, the command is refused with INVALID FIELD IN COMMAND INFORMATION UNIT (FCP-4
    /// §9.4.2 b, which libiscsi accepts) instead of writing a partial block; the completion
    /// still reports the overflow residual.
    fn refuse_partial_block(&self, want: u64, expected: u32) -> Option<Start> {
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

    /// VERIFY(10/12/16) (SBC-3 §5.25–§5.27): BYTCHK 00b checks the range only, 01b compares
    /// the Data-Out with the medium, 11b compares one block of Data-Out with every block.
    fn start_verify(&mut self, info: &CmdInfo, cmd: &CommandRequest<'_>) -> Result<Start, Sense> {
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
        let task = ScsiTask::new(info.cmd, Op::Compare { offset, repeat }, cmd.cdb, cmd.nexus);
        Ok(task.data_out(want, cmd.expected_write_len))
    }

    /// SYNCHRONIZE CACHE(10/16) (SBC-3 §5.22–§5.23): NUMBER OF LOGICAL BLOCKS 0 means to the
    /// end of the medium. The whole device cache is flushed.
    fn start_sync_cache(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let rw = Rw::decode(info, cmd.cdb);
        self.check_range(rw.lba, u64::from(rw.blocks))?;
        self.dev.flush().map_err(|e| e.sense(Access::Write))?;
        Ok(no_data(cmd))
    }

    /// Produces Data-In bytes `offset .. offset + n` into `buf` for a [`Start::DataIn`] task;
    /// returns `n` (`buf.len()` clipped to the task's length). On error the session sends the
    /// returned completion instead of calling [`finish`](Self::finish).
    pub fn read_data(
        &mut self,
        task: &ScsiTask,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<usize, Completion> {
        let n = task.clip(offset, buf.len());
        let Some(out) = buf.get_mut(..n) else {
            return Ok(0);
        };
        match task.op {
            Op::Generated => {
                out.fill(0);
                let mut w = Window::new(u64::from(offset), out);
                self.generate(task, &mut w);
                Ok(n)
            }
            Op::Read { offset: base } => {
                let at = base.saturating_add(u64::from(offset));
                match self.dev.read_at(at, out) {
                    Ok(()) => Ok(n),
                    Err(e) => {
                        Err(Completion::check(e.sense(Access::Read)).with_residual(task.residual()))
                    }
                }
            }
            _ => Ok(0),
        }
    }

    /// Consumes Data-Out bytes at `offset` for a [`Start::DataOut`] task. Bytes past the task's
    /// length are ignored. After an error the task is failed: this returns the completion
    /// (again) and [`finish`](Self::finish) reports it; the session may stop fetching data.
    pub fn write_data(
        &mut self,
        task: &mut ScsiTask,
        offset: u32,
        data: &[u8],
    ) -> Result<(), Completion> {
        if task.sense.is_some() {
            return Err(task.completion());
        }
        let n = task.clip(offset, data.len());
        let Some(d) = data.get(..n) else {
            return Ok(());
        };
        let res = match task.op {
            Op::Write { offset: base, fua } => self
                .dev
                .write_at(base.saturating_add(u64::from(offset)), d, fua)
                .map_err(|e| e.sense(Access::Write)),
            Op::Compare {
                offset: base,
                repeat,
            } => self.compare_piece(task, base, repeat, offset, d),
            _ => Ok(()),
        };
        res.map_err(|s| {
            task.sense = Some(s);
            task.completion()
        })
    }

    /// Compares one Data-Out piece with the medium, recording the lowest miscompare offset.
    fn compare_piece(
        &mut self,
        task: &mut ScsiTask,
        base: u64,
        repeat: u32,
        offset: u32,
        d: &[u8],
    ) -> Result<(), Sense> {
        let bs = u64::from(self.block_size());
        let rounds = repeat.max(1);
        for k in 0..rounds {
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
    fn first_difference(&mut self, at: u64, data: &[u8]) -> Result<Option<usize>, Sense> {
        let mut chunk = [0u8; 256];
        let mut done = 0usize;
        for piece in data.chunks(chunk.len()) {
            let cur = chunk.get_mut(..piece.len()).unwrap_or(&mut []);
            self.dev
                .read_at(at.saturating_add(done as u64), cur)
                .map_err(|e| e.sense(Access::Read))?;
            if let Some(i) = cur.iter().zip(piece).position(|(a, b)| a != b) {
                return Ok(Some(done.saturating_add(i)));
            }
            done = done.saturating_add(piece.len());
        }
        Ok(None)
    }

    /// Ends the task after its data phase: GOOD with the residual, or the failure recorded
    /// during the data phase (MISCOMPARE with the Data-Out offset in INFORMATION for VERIFY).
    pub fn finish(&mut self, task: &ScsiTask) -> Completion {
        if task.sense.is_none() {
            if let Some(off) = task.miscompare {
                return Completion::check(
                    Sense::new(
                        SenseKey::MISCOMPARE,
                        AdditionalSense::MISCOMPARE_DURING_VERIFY,
                    )
                    .with_information(off),
                )
                .with_residual(task.residual());
            }
        }
        task.completion()
    }

    /// Ends a task whose [`block_io`](ScsiTask::block_io) the session performed itself
    /// against an asynchronous backend, mapping `result` to sense data.
    pub fn complete_io(&mut self, task: &ScsiTask, result: Result<(), IoError>) -> Completion {
        match result {
            Ok(()) => self.finish(task),
            Err(e) => {
                let access = match task.op {
                    Op::Read { .. } => Access::Read,
                    _ => Access::Write,
                };
                Completion::check(e.sense(access)).with_residual(task.residual())
            }
        }
    }
}

/// GOOD for a command without data, with the residual against whatever the initiator
/// expected to move.
fn no_data(cmd: &CommandRequest<'_>) -> Start {
    let expected = cmd.expected_read_len.max(cmd.expected_write_len);
    Start::Done(Completion::GOOD.with_residual(Residual::of(0, expected)))
}

/// LBA, block count and flags shared by the READ/WRITE/VERIFY/SYNCHRONIZE CACHE families,
/// whose fields sit at the same places for each CDB length (SBC-3 §5).
#[derive(Clone, Copy, Debug)]
struct Rw {
    lba: u64,
    blocks: u32,
    fua: bool,
    /// Byte offset of the TRANSFER LENGTH field, for field pointers.
    len_field: u16,
}

impl Rw {
    fn decode(info: &CmdInfo, c: &[u8]) -> Rw {
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
