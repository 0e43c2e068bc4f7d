//! SANITIZE (SBC-4 §5.30, §4.11): OVERWRITE with an initialization pattern, BLOCK ERASE (thin
//! devices: every block unmapped), CRYPTO ERASE and EXIT FAILURE MODE.
//!
//! A sanitize operation is a [`SanitizeJob`] that walks the medium in steps through
//! [`LogicalUnit::run_background`]. With IMMED=1 the command completes once the parameters are
//! checked; with IMMED=0 its status waits for the end of the job and tells how it went:
//! [`LogicalUnit::finish_or_defer`] hands the session a [`Ticket`] to ask
//! [`LogicalUnit::deferred_status`] with, while [`LogicalUnit::finish`] runs the job to its end
//! for callers that cannot wait (no background runner). While a job exists every command but
//! INQUIRY, REPORT LUNS and REQUEST SENSE is refused with NOT READY, SANITIZE IN PROGRESS and
//! a progress indication (§4.11.2), and resets do not stop it. A job that fails leaves the unit
//! in sanitize failure mode (medium access gives MEDIUM ERROR, SANITIZE COMMAND FAILED) until a
//! sanitize completes or EXIT FAILURE MODE.
//!
//! CRYPTO ERASE: the device keeps no media encryption key to change, so the only way to make
//! the data unrecoverable is to destroy it: thin devices unmap every block, others are
//! overwritten with zeros. Reads after any erase return data (WABEREQ = WACEREQ = 01b).

use super::cdb;
use super::commands::{
    Cmd, CmdInfo, SANITIZE_BLOCK_ERASE, SANITIZE_CRYPTO_ERASE, SANITIZE_EXIT_FAILURE_MODE,
    SANITIZE_OVERWRITE,
};
use super::completion::{Completion, Status, Ticket};
use super::device::{Access, BlockDevice};
use super::lu::{no_data, LogicalUnit, ScratchBuf, SANITIZE_OWNER};
use super::sense::{AdditionalSense, Sense, SenseKey, SenseSpecific};
use super::task::{CommandRequest, Op, ScsiTask, Start};

/// Bytes of zeros written per step when erasing a fully provisioned device.
const ZEROS: [u8; 4096] = [0; 4096];

/// What a sanitize job does to every block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum SanitizeKind {
    /// The pattern (held in the scratch buffer from byte 4, `len` bytes) repeated over every
    /// block, `count` passes, inverted on odd passes when `invert`.
    Overwrite { len: u16, count: u8, invert: bool },
    /// Unmap every block.
    BlockErase,
    /// Destroy the data: unmap when thin, else write zeros.
    CryptoErase,
}

/// A sanitize operation in progress: which pass, and the next byte of the medium.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct SanitizeJob {
    pub kind: SanitizeKind,
    pub pass: u8,
    pub next: u64,
    /// Which job this is, for the [`Ticket`] of a command waiting for it.
    pub seq: u32,
}

impl SanitizeJob {
    fn passes(&self) -> u8 {
        match self.kind {
            SanitizeKind::Overwrite { count, .. } => count.max(1),
            _ => 1,
        }
    }
}

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
                // At least one pattern byte, at most one block of pattern (§5.30.2.2).
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
                let kind = match sa {
                    SANITIZE_BLOCK_ERASE => SanitizeKind::BlockErase,
                    SANITIZE_CRYPTO_ERASE => SanitizeKind::CryptoErase,
                    SANITIZE_EXIT_FAILURE_MODE => {
                        self.sanitize_failed = false;
                        return Ok(no_data(cmd));
                    }
                    _ => return Err(Sense::invalid_field_in_cdb(1, Some(4))),
                };
                self.check_writable()?;
                self.begin_sanitize(kind);
                if immediate(c) {
                    return Ok(no_data(cmd));
                }
                // IMMED=0: a task with no data phase whose status waits for the job.
                let mut task = self.new_task(info, Op::Generated, cmd);
                task.expected = cmd.expected_read_len.max(cmd.expected_write_len);
                Ok(Start::DataIn { task, len: 0 })
            }
        }
    }

    /// OVERWRITE parameter list (SBC-4 table 132): INVERT, TEST, OVERWRITE COUNT, pattern
    /// length, pattern. Checked here, then the job runs with the pattern left in the scratch
    /// buffer, which the job keeps until it ends.
    pub(crate) fn finish_sanitize(&mut self, len: usize) -> Result<(), Sense> {
        let p = self.scratch.bytes().get(..len).unwrap_or(&[]);
        let b0 = cdb::u8_at(p, 0);
        let invert = b0 & 0x80 != 0;
        let count = b0 & 0x1f;
        let plen = cdb::be16(p, 2);
        let bs = self.block_size() as usize;
        if b0 & 0x60 != 0 {
            return Err(Sense::invalid_field_in_parameter_list(0, Some(6)));
        }
        if count == 0 {
            return Err(Sense::invalid_field_in_parameter_list(0, Some(4)));
        }
        let n = usize::from(plen);
        if n == 0 || n > bs || n.saturating_add(4) > len {
            return Err(Sense::invalid_field_in_parameter_list(2, None));
        }
        let kind = SanitizeKind::Overwrite {
            len: plen,
            count,
            invert,
        };
        self.begin_sanitize(kind);
        Ok(())
    }

    /// Starts a job, left to [`run_background`](Self::run_background).
    fn begin_sanitize(&mut self, kind: SanitizeKind) {
        if matches!(kind, SanitizeKind::Overwrite { .. }) {
            // The pattern stays in the scratch buffer for the job's life.
            self.scratch.owner = Some(SANITIZE_OWNER);
        }
        self.sanitize_seq = self.sanitize_seq.wrapping_add(1);
        self.sanitize = Some(SanitizeJob {
            kind,
            pass: 0,
            next: 0,
            seq: self.sanitize_seq,
        });
        info!("scsi: sanitize {:?} started", kind);
    }

    /// The job a finished SANITIZE with IMMED=0 waits for, if it started one.
    pub(crate) fn awaited_job(&self, task: &ScsiTask, completion: &Completion) -> Option<Ticket> {
        let job = self.job()?;
        let waits =
            task.cmd == Cmd::Sanitize && !immediate(&task.cdb) && completion.status == Status::GOOD;
        waits.then_some(Ticket(job.seq))
    }

    /// The status of a SANITIZE (IMMED=0) that waits for the job of `ticket`: `None` while
    /// the job runs, then GOOD or MEDIUM ERROR, SANITIZE COMMAND FAILED (SBC-4 §4.11.3).
    pub fn deferred_status(&self, task: &ScsiTask, ticket: Ticket) -> Option<Completion> {
        if self.job().is_some_and(|j| j.seq == ticket.0) {
            return None;
        }
        let failed = match self.sanitize_outcome {
            Some((seq, failed)) if seq == ticket.0 => failed,
            _ => self.sanitize_failed,
        };
        let status = if failed {
            Completion::check(sanitize_failed())
        } else {
            Completion::GOOD
        };
        Some(status.with_residual(task.residual()))
    }

    /// True while a background operation (a SANITIZE with IMMED=1) has work left; the owner
    /// of the logical unit then calls [`run_background`](Self::run_background) until it is
    /// false.
    pub fn background_pending(&self) -> bool {
        self.job().is_some()
    }

    /// The sanitize job in progress; never one without `scsi-full` (no SANITIZE starts one).
    fn job(&self) -> Option<SanitizeJob> {
        if FULL {
            self.sanitize
        } else {
            None
        }
    }

    /// Performs up to about `max_bytes` of pending background work and returns whether work
    /// remains. Between calls other commands are answered (NOT READY, SANITIZE IN PROGRESS
    /// with the progress so far), so a caller holding a lock should release it in between.
    pub fn run_background(&mut self, max_bytes: u64) -> bool {
        let Some(mut job) = self.job() else {
            return false;
        };
        let total = self.capacity_bytes();
        let mut budget = max_bytes.max(1);
        let mut result = Ok(());
        while budget > 0 && job.pass < job.passes() {
            if job.next >= total {
                job.pass = job.pass.saturating_add(1);
                job.next = 0;
                continue;
            }
            match self.sanitize_step(&job, total, budget) {
                Ok(done) => {
                    job.next = job.next.saturating_add(done);
                    budget = budget.saturating_sub(done);
                }
                Err(s) => {
                    result = Err(s);
                    break;
                }
            }
        }
        let finished = result.is_err() || job.pass >= job.passes();
        if !finished {
            self.sanitize = Some(job);
            return true;
        }
        self.sanitize = None;
        if self.scratch.owner == Some(SANITIZE_OWNER) {
            self.scratch.owner = None;
        }
        self.sanitize_failed = result.is_err();
        self.sanitize_outcome = Some((job.seq, result.is_err()));
        if result.is_err() {
            warn!("scsi: sanitize failed; the unit is in sanitize failure mode");
        } else {
            info!("scsi: sanitize done");
        }
        false
    }

    /// One piece of a job at `job.next`: at most `budget` bytes (whole pieces of the pattern
    /// writer's chunk size). Returns the bytes covered.
    fn sanitize_step(&mut self, job: &SanitizeJob, total: u64, budget: u64) -> Result<u64, Sense> {
        let left = total.saturating_sub(job.next);
        let thin = self.thin();
        match job.kind {
            SanitizeKind::BlockErase => self.discard_piece(job.next, left.min(budget)),
            SanitizeKind::CryptoErase if thin => self.discard_piece(job.next, left.min(budget)),
            SanitizeKind::CryptoErase => {
                let k = left.min(budget).min(ZEROS.len() as u64);
                let buf = ZEROS.get(..usize::try_from(k).unwrap_or(0)).unwrap_or(&[]);
                let fua = self.write_through(false);
                self.dev
                    .write_at(job.next, buf, fua)
                    .map_err(|e| e.sense(Access::Write))?;
                Ok(k)
            }
            SanitizeKind::Overwrite { len, invert, .. } => {
                let flip = if invert && job.pass % 2 == 1 { 0xff } else { 0 };
                let plen = usize::from(len).max(1);
                let bs = u64::from(self.block_size());
                let mut chunk = [0u8; 512];
                let k = left.min(budget).min(chunk.len() as u64);
                let within = job.next.checked_rem(bs).unwrap_or(0);
                for (i, b) in chunk.iter_mut().enumerate() {
                    let at = within.saturating_add(i as u64);
                    let pi = usize::try_from(at)
                        .unwrap_or(0)
                        .checked_rem(plen)
                        .unwrap_or(0);
                    *b = self
                        .scratch
                        .bytes()
                        .get(4usize.saturating_add(pi))
                        .copied()
                        .unwrap_or(0)
                        ^ flip;
                }
                // A piece never crosses a block boundary, so the pattern restarts per block.
                let k = k.min(bs.saturating_sub(within));
                let piece = chunk.get(..usize::try_from(k).unwrap_or(0)).unwrap_or(&[]);
                let fua = self.write_through(false);
                self.dev
                    .write_at(job.next, piece, fua)
                    .map_err(|e| e.sense(Access::Write))?;
                Ok(k)
            }
        }
    }

    /// Unmaps whole blocks from `at`, `len` bytes rounded down to blocks (at least one).
    fn discard_piece(&mut self, at: u64, len: u64) -> Result<u64, Sense> {
        let bs = u64::from(self.block_size()).max(1);
        let n = len.checked_div(bs).unwrap_or(0).max(1).saturating_mul(bs);
        let n = n.min(self.capacity_bytes().saturating_sub(at));
        self.dev
            .discard(at, n)
            .map_err(|e| e.sense(Access::Write))?;
        Ok(n.max(1))
    }

    fn capacity_bytes(&self) -> u64 {
        self.dev
            .num_blocks()
            .saturating_mul(u64::from(self.block_size()))
    }

    /// NOT READY, SANITIZE IN PROGRESS with the fraction done, while a job runs.
    pub(crate) fn sanitize_in_progress(&self) -> Option<Sense> {
        let job = self.job()?;
        let total = self
            .capacity_bytes()
            .saturating_mul(u64::from(job.passes()))
            .max(1);
        let done = self
            .capacity_bytes()
            .saturating_mul(u64::from(job.pass))
            .saturating_add(job.next);
        let fraction = u128::from(done)
            .saturating_mul(65536)
            .checked_div(u128::from(total))
            .unwrap_or(0);
        let mut s = Sense::new(
            SenseKey::NOT_READY,
            AdditionalSense::NOT_READY_SANITIZE_IN_PROGRESS,
        );
        s.specific = Some(SenseSpecific::Progress(
            u16::try_from(fraction).unwrap_or(u16::MAX),
        ));
        Some(s)
    }

    /// Sanitize failure mode: true after a sanitize failed.
    pub(crate) fn in_sanitize_failure_mode(&self) -> bool {
        FULL && self.sanitize_failed
    }
}

/// Whether SANITIZE is built in (feature `scsi-full`).
const FULL: bool = cfg!(feature = "scsi-full");

/// IMMED (byte 1 bit 7).
fn immediate(cdb: &[u8]) -> bool {
    cdb::u8_at(cdb, 1) & 0x80 != 0
}

/// MEDIUM ERROR, SANITIZE COMMAND FAILED (SBC-4 §4.11.3).
pub(crate) fn sanitize_failed() -> Sense {
    Sense::new(
        SenseKey::MEDIUM_ERROR,
        AdditionalSense::SANITIZE_COMMAND_FAILED,
    )
}
