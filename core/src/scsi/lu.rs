//! [`LogicalUnit`]: one direct-access logical unit (SBC-3) over a [`BlockDevice`]: state,
//! command dispatch with unit attention and reservation checks (SAM-5 §5.4, SPC-4 §5.14),
//! the streaming data phase, and resets (SAM-5 §6.3).

use super::cdb;
use super::commands::{self, Cmd, CmdInfo, Needs};
use super::completion::{Completion, Finish, Residual};
use super::device::{Access, BlockDevice, IoError, Provisioning};
use super::identity::{LuConfig, LuIdentity};
use super::inquiry::{self, Inquiry, InquiryFacts};
use super::mode::{DeviceFacts, ModeSense, ModeState};
use super::pr::{PrState, Reservations};
use super::sanitize::SanitizeJob;
use super::sense::{AdditionalSense, Sense, SenseKey};
use super::task::{CommandRequest, NexusId, Op, ScsiTask, Start, Started};
use super::ua::{UnitAttention, UnitAttentions};
use super::window::{measure, Window};
use super::xcopy::{CopyPeers, CopyStatus, NoPeers};

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

/// Storage for a logical unit's scratch buffer: an inline array (`[u8; N]`, the default, for
/// firmware) or any owned byte buffer the caller provides (a `Box<[u8]>` in the daemon), so
/// the core stays allocation-free while a host can afford a large one.
pub trait ScratchBuf: AsRef<[u8]> + AsMut<[u8]> {}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ScratchBuf for T {}

/// The scratch buffer owner while a sanitize job keeps its pattern there (never a task tag).
pub(crate) const SANITIZE_OWNER: u32 = u32::MAX;

/// Whether the optional commands are built in (feature `scsi-full`: PERSISTENT RESERVE IN/OUT,
/// SANITIZE, EXTENDED COPY / RECEIVE COPY RESULTS, COMPARE AND WRITE, WRITE ATOMIC, REPORT
/// SUPPORTED OPERATION CODES, READ DEFECT DATA, MODE SELECT, RESERVE(6) / RELEASE(6), VERIFY,
/// ORWRITE, and the provisioning commands UNMAP, WRITE SAME and GET LBA STATUS). Without it they are unsupported
/// operation codes, INQUIRY does not advertise them, every unit reports full provisioning, no
/// mode page bit is changeable, no reservation is ever held and no sanitize job ever runs.
const FULL: bool = cfg!(feature = "scsi-full");

/// The scratch buffer and which task holds it.
#[derive(Debug)]
pub(crate) struct Scratch<B> {
    buf: B,
    pub owner: Option<u32>,
}

impl<B: ScratchBuf> Scratch<B> {
    pub(crate) fn bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        self.buf.as_mut()
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.as_ref().len()
    }
}

/// A direct-access logical unit.
///
/// `NEXUS` is the number of I_T nexus slots (unit attentions, reservations, registrations);
/// `B` holds the scratch buffer for commands whose data must be held whole before acting
/// (COMPARE AND WRITE, WRITE SAME, WRITE ATOMIC, parameter lists): a 4 KiB inline array by
/// default ([`new`](Self::new) with `[u8; N]`), or any [`ScratchBuf`] given to
/// [`with_scratch`](Self::with_scratch). One such command runs at a time; another arriving
/// meanwhile gets BUSY.
///
/// Drive it with [`start`](Self::start), then, per the returned [`Start`],
/// [`read_data`](Self::read_data) or [`write_data`](Self::write_data) any number of times and
/// [`finish`](Self::finish) once (or [`abort`](Self::abort) if the task is aborted). Commands
/// to a LUN that does not exist and REPORT LUNS go to [`target`](super::target) instead.
#[derive(Debug)]
pub struct LogicalUnit<D, const NEXUS: usize = 16, B = [u8; 4096]> {
    pub(crate) dev: D,
    pub(crate) id: LuIdentity,
    pub(crate) cfg: LuConfig,
    pub(crate) ua: UnitAttentions<NEXUS>,
    pub(crate) mode: ModeState,
    pub(crate) res: Reservations<NEXUS>,
    /// Removable medium ejected by START STOP UNIT (LOEJ=1, START=0): MEDIUM NOT PRESENT.
    pub(crate) ejected: bool,
    /// A sanitize operation in progress (SBC-4 §4.11).
    pub(crate) sanitize: Option<SanitizeJob>,
    /// The last sanitize failed: medium access fails until EXIT FAILURE MODE (SBC-4 §4.11.3).
    pub(crate) sanitize_failed: bool,
    /// The last sanitize job started, and how the last one to end went (its number, failed).
    pub(crate) sanitize_seq: u32,
    pub(crate) sanitize_outcome: Option<(u32, bool)>,
    /// Per nexus: PREVENT ALLOW MEDIUM REMOVAL state (SBC-3 §5.13).
    pub(crate) prevent: [bool; NEXUS],
    pub(crate) scratch: Scratch<B>,
    /// Result of the last EXTENDED COPY that kept its list identifier.
    pub(crate) copy_status: Option<CopyStatus>,
    next_tag: u32,
}

impl<D: BlockDevice, const NEXUS: usize, const S: usize> LogicalUnit<D, NEXUS, [u8; S]> {
    /// A logical unit over `dev` with an inline `S`-byte scratch buffer. Every nexus starts
    /// with a POWER ON, RESET unit attention.
    pub fn new(dev: D, id: LuIdentity, cfg: LuConfig) -> Self {
        Self::with_scratch(dev, id, cfg, [0; S])
    }
}

impl<D: BlockDevice, const NEXUS: usize, B: ScratchBuf> LogicalUnit<D, NEXUS, B> {
    /// A logical unit over `dev` using `scratch` as its scratch buffer (its length sets
    /// MAXIMUM COMPARE AND WRITE LENGTH, the WRITE ATOMIC limit and the parameter list
    /// limits). Every nexus starts with a POWER ON, RESET unit attention.
    pub fn with_scratch(dev: D, id: LuIdentity, cfg: LuConfig, scratch: B) -> Self {
        let mode = ModeState::defaults(dev.has_volatile_cache());
        LogicalUnit {
            dev,
            id,
            cfg,
            ua: UnitAttentions::new(),
            mode,
            res: Reservations::new(),
            ejected: false,
            sanitize: None,
            sanitize_failed: false,
            sanitize_seq: 0,
            sanitize_outcome: None,
            prevent: [false; NEXUS],
            scratch: Scratch {
                buf: scratch,
                owner: None,
            },
            copy_status: None,
            next_tag: 0,
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

    /// Names the initiator port behind `nexus` (iSCSI: `"<InitiatorName>,i,0x<ISID>"`),
    /// used by persistent reservations to recognise a registrant across I_T nexus loss and
    /// for TransportIDs in READ FULL STATUS. Call when the session reaches full feature phase.
    /// Returns false if the name is too long or not printable ASCII, or `nexus` is out of range.
    pub fn set_initiator_port(&mut self, nexus: NexusId, name: &str) -> bool {
        self.res.set_initiator_port(nexus, name)
    }

    /// The persistent reservation state, for saving (APTPL) or inspection.
    pub fn persistent_reservations(&self) -> &PrState<NEXUS> {
        self.res.pr()
    }

    /// Restores saved persistent reservation state (after power loss, APTPL).
    pub fn restore_persistent_reservations(&mut self, state: PrState<NEXUS>) {
        self.res.restore(state);
    }

    /// True when writes are refused: the device is write protected or software write protect
    /// (SWP in the Control mode page) is set.
    pub fn is_write_protected(&self) -> bool {
        self.write_protected()
    }

    /// Reads this logical unit's medium for another logical unit's EXTENDED COPY (the copy
    /// manager's [`CopyPeers`] implementation calls it); refused while the medium is not
    /// ready.
    pub fn peer_read(&mut self, byte_offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        if self.background_pending() || self.medium_not_ready().is_some() {
            return Err(IoError::NotReady);
        }
        self.dev.read_at(byte_offset, buf)
    }

    /// Writes this logical unit's medium for another logical unit's EXTENDED COPY; refused
    /// while not ready or write protected.
    pub fn peer_write(&mut self, byte_offset: u64, data: &[u8]) -> Result<(), IoError> {
        if self.background_pending() || self.medium_not_ready().is_some() {
            return Err(IoError::NotReady);
        }
        if self.write_protected() {
            return Err(IoError::WriteProtected);
        }
        let fua = self.write_through(false);
        self.dev.write_at(byte_offset, data, fua)
    }

    /// Establishes unit attention `ua` for `nexus`, or for every nexus when `None`.
    pub fn raise_unit_attention(&mut self, nexus: Option<NexusId>, ua: UnitAttention) {
        match nexus {
            Some(n) => self.ua.raise(n, ua),
            None => self.ua.raise_all(ua, None),
        }
    }

    /// A task management reset (LOGICAL UNIT RESET, TARGET WARM/COLD RESET): unit attention
    /// for every nexus (the one that asked included: SAM-5 §6.3.3 "every I_T nexus"), RESERVE(6)
    /// reservations and PREVENT states cleared, the scratch buffer freed, EXTENDED COPY status
    /// discarded (SAM-5 §6.3.2, SPC-4 §5.13.2). Persistent reservations survive, and so does a
    /// sanitize operation in progress (SBC-4 §4.11.2).
    pub fn reset(&mut self, kind: ResetKind) {
        let ua = match kind {
            ResetKind::LogicalUnitReset => UnitAttention::LunReset,
            ResetKind::TargetWarmReset | ResetKind::TargetColdReset => UnitAttention::PowerOnReset,
        };
        if kind == ResetKind::TargetColdReset {
            self.mode = ModeState::defaults(self.dev.has_volatile_cache());
        }
        self.res.release_reserve6();
        self.prevent = [false; NEXUS];
        if self.scratch.owner != Some(SANITIZE_OWNER) {
            self.scratch.owner = None;
        }
        self.copy_status = None;
        self.ua.raise_all(ua, None);
        info!("scsi: reset {:?}", kind);
    }

    /// The I_T nexus `nexus` is gone (logout, connection loss without recovery): its RESERVE(6)
    /// reservation and PREVENT state are released, and a new nexus later given the same index
    /// sees I_T NEXUS LOSS OCCURRED first (SPC-4 §5.14). Persistent reservations survive.
    pub fn nexus_lost(&mut self, nexus: NexusId) {
        self.res.nexus_lost(nexus);
        if let Some(p) = self.prevent.get_mut(usize::from(nexus.0)) {
            *p = false;
        }
        self.ua.raise(nexus, UnitAttention::NexusLoss);
        if self.copy_status.is_some_and(|s| s.nexus == nexus) {
            self.copy_status = None;
        }
    }

    /// Why medium access is refused now, if it is: a removable medium ejected (NOT READY,
    /// MEDIUM NOT PRESENT) or sanitize failure mode (MEDIUM ERROR, SANITIZE COMMAND FAILED).
    pub(crate) fn medium_not_ready(&self) -> Option<Sense> {
        if self.ejected {
            Some(Sense::new(
                SenseKey::NOT_READY,
                AdditionalSense::MEDIUM_NOT_PRESENT,
            ))
        } else if self.in_sanitize_failure_mode() {
            Some(super::sanitize::sanitize_failed())
        } else {
            None
        }
    }

    pub(crate) fn block_size(&self) -> u32 {
        self.dev.block_size()
    }

    pub(crate) fn thin(&self) -> bool {
        matches!(self.provisioning(), Provisioning::Thin { .. })
    }

    /// The provisioning the unit reports (SBC-3 §4.7): the device's, or full without
    /// `scsi-full` (no UNMAP, WRITE SAME or GET LBA STATUS to manage it with).
    pub(crate) fn provisioning(&self) -> Provisioning {
        if FULL {
            self.dev.provisioning()
        } else {
            Provisioning::Full
        }
    }

    /// MAXIMUM TRANSFER LENGTH enforced: the configured one, capped so the byte count fits
    /// the 32-bit Expected Data Transfer Length.
    pub(crate) fn max_transfer_blocks(&self) -> u32 {
        let cap = u32::MAX.checked_div(self.block_size()).unwrap_or(0);
        self.cfg.max_transfer_blocks.min(cap)
    }

    /// Blocks that fit in the scratch buffer.
    pub(crate) fn scratch_blocks(&self) -> u32 {
        let n = self
            .scratch
            .len()
            .checked_div(self.block_size() as usize)
            .unwrap_or(0);
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// MAXIMUM COMPARE AND WRITE LENGTH: 2 × N blocks must fit in the scratch buffer.
    pub(crate) fn max_compare_and_write_blocks(&self) -> u8 {
        u8::try_from((self.scratch_blocks() / 2).min(255)).unwrap_or(255)
    }

    pub(crate) fn write_protected(&self) -> bool {
        self.dev.write_protected() || self.mode.swp
    }

    pub(crate) fn device_facts(&self) -> DeviceFacts {
        DeviceFacts {
            num_blocks: self.dev.num_blocks(),
            block_size: self.block_size(),
            write_protected: self.write_protected(),
            has_cache: self.dev.has_volatile_cache(),
        }
    }

    pub(crate) fn inquiry_facts(&self) -> InquiryFacts {
        InquiryFacts {
            physical_block_exponent: self.dev.physical_block_exponent(),
            provisioning: self.provisioning(),
            max_transfer_blocks: self.max_transfer_blocks(),
            max_compare_and_write_blocks: if FULL {
                self.max_compare_and_write_blocks()
            } else {
                0
            },
            max_atomic_blocks: if FULL && self.cfg.atomic_writes {
                self.scratch_blocks().min(self.max_transfer_blocks())
            } else {
                0
            },
            max_unmap_descriptors: self.max_unmap_descriptors(),
            unmap: self.thin(),
            write_same: FULL && self.scratch_blocks() > 0,
            tpgs: true,
            third_party_copy: FULL && self.scratch_blocks() > 0,
            removable: self.cfg.removable,
            sanitize_erase: FULL,
        }
    }

    /// Whether another service action of `info`'s operation code is supported (the answer
    /// to an unsupported one, rare).
    #[cold]
    #[inline(never)]
    fn supports_another_action(&self, info: &CmdInfo) -> bool {
        commands::COMMANDS
            .iter()
            .any(|o| o.op == info.op && self.supports(o))
    }

    /// True when the table entry can run on this device.
    pub(crate) fn supports(&self, info: &CmdInfo) -> bool {
        match info.needs {
            Needs::Nothing => true,
            Needs::Thin => self.thin(),
            Needs::ScratchBlock => self.scratch_blocks() > 0,
            Needs::ScratchTwoBlocks => self.max_compare_and_write_blocks() > 0,
            Needs::Atomic => self.cfg.atomic_writes && self.scratch_blocks() > 0,
        }
    }

    /// Decodes and validates a command and begins it (SAM-5 §5.4 command processing).
    ///
    /// Order of checks: operation code and service action (and whether this device supports
    /// them); a pending unit attention (except for INQUIRY, REPORT LUNS and REQUEST SENSE,
    /// SPC-4 §5.14); a sanitize in progress (same exceptions, SBC-4 §4.11); reservation
    /// conflicts (SPC-4 §5.13); reserved CDB bits against the CDB usage map; medium access
    /// while the medium is ejected or in sanitize failure mode; then the command's own fields.
    pub fn start(&mut self, cmd: &CommandRequest<'_>) -> Start {
        let mut slot = None;
        self.start_in(cmd, &mut slot).with_task(slot)
    }

    /// As [`start`](Self::start), writing the SCSI task of a data phase straight into `slot`
    /// (a session's task table entry): READ and WRITE build it there, with no copy.
    pub fn start_in(&mut self, cmd: &CommandRequest<'_>, slot: &mut Option<ScsiTask>) -> Started {
        let found = commands::lookup(cmd.cdb).and_then(|i| {
            if self.supports(i) {
                Ok(i)
            } else if self.supports_another_action(i) {
                // Another service action of this opcode is supported.
                Err(commands::LookupError::ServiceAction)
            } else {
                Err(commands::LookupError::Opcode)
            }
        });
        let exempt = matches!(found, Ok(c) if c.ua_exempt);
        if !exempt {
            if let Some(ua) = self.ua.take(cmd.nexus) {
                debug!("scsi: reporting unit attention {:?}", ua);
                return refused(ua.sense());
            }
        }
        let info = match found {
            Ok(i) => i,
            Err(e) => return refused(e.sense()),
        };
        if !info.ua_exempt {
            if let Some(s) = self.sanitize_in_progress() {
                return refused(s);
            }
        }
        if self.res.conflicts(info, cmd.cdb, cmd.nexus) {
            return Started::Done(Completion::RESERVATION_CONFLICT);
        }
        if cmd.cdb.len() < info.usage.len() {
            return refused(Sense::invalid_field_in_cdb(0, None));
        }
        if let Err(s) = cdb::check_usage_bits(cmd.cdb, info.usage, info.allowed) {
            return refused(s);
        }
        if info.medium {
            if let Some(s) = self.medium_not_ready() {
                return refused(s);
            }
        }
        // Tags never take the value that marks the scratch buffer as the sanitize job's.
        self.next_tag = self
            .next_tag
            .wrapping_add(1)
            .checked_rem(SANITIZE_OWNER)
            .unwrap_or(0);
        // READ and WRITE, nearly every command, begin here, not in `dispatch`.
        match info.cmd {
            Cmd::Read => self.start_read(info, cmd, slot),
            Cmd::Write | Cmd::WriteAndVerify => self.start_write(info, cmd, slot),
            _ => match self.dispatch(info, cmd) {
                Ok(s) => s.place(slot),
                Err(s) => refused(s),
            },
        }
    }

    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn new_task(&self, info: &CmdInfo, op: Op, cmd: &CommandRequest<'_>) -> ScsiTask {
        let mut t = ScsiTask::new(info.cmd, op, cmd.cdb, cmd.nexus);
        t.tag = self.next_tag;
        t
    }

    fn dispatch(&mut self, info: &CmdInfo, cmd: &CommandRequest<'_>) -> Result<Start, Sense> {
        let c = cmd.cdb;
        match info.cmd {
            Cmd::TestUnitReady => Ok(no_data(cmd)),
            Cmd::Inquiry => {
                let q = Inquiry::parse(c)?;
                Ok(self.generated(info, cmd, q.alloc, None))
            }
            Cmd::RequestSense => {
                if cdb::u8_at(c, 1) & 0x01 != 0 {
                    // DESC: descriptor format sense data is not supported.
                    return Err(Sense::invalid_field_in_cdb(1, Some(0)));
                }
                let sense = match self.ua.take(cmd.nexus) {
                    Some(u) => Some(u.sense()),
                    None => self
                        .sanitize_in_progress()
                        .or_else(|| self.medium_not_ready()),
                };
                let alloc = u32::from(cdb::u8_at(c, 4));
                Ok(self.generated(info, cmd, alloc, sense))
            }
            Cmd::ModeSense6 | Cmd::ModeSense10 => {
                let m = ModeSense::parse(c, info.cmd == Cmd::ModeSense10)?;
                Ok(self.generated(info, cmd, m.alloc, None))
            }
            Cmd::ReadCapacity10 => {
                // SBC-3 §5.15: with PMI 0 the LOGICAL BLOCK ADDRESS must be 0.
                if cdb::u8_at(c, 8) & 0x01 == 0 && cdb::be32(c, 2) != 0 {
                    return Err(Sense::invalid_field_in_cdb(2, None));
                }
                Ok(self.generated(info, cmd, 8, None))
            }
            Cmd::ReadCapacity16 => {
                if cdb::u8_at(c, 14) & 0x01 == 0 && cdb::be64(c, 2) != 0 {
                    return Err(Sense::invalid_field_in_cdb(2, None));
                }
                Ok(self.generated(info, cmd, cdb::be32(c, 10), None))
            }
            Cmd::ReportLuns => {
                warn!("scsi: REPORT LUNS reached a logical unit; route it to scsi::target");
                Err(Sense::new(
                    SenseKey::HARDWARE_ERROR,
                    AdditionalSense::INTERNAL_TARGET_FAILURE,
                ))
            }
            Cmd::Read | Cmd::Write | Cmd::WriteAndVerify => {
                warn!("scsi: READ or WRITE reached dispatch; they begin in start_in");
                Err(Sense::new(
                    SenseKey::HARDWARE_ERROR,
                    AdditionalSense::INTERNAL_TARGET_FAILURE,
                ))
            }
            #[cfg(feature = "scsi-full")]
            Cmd::OrWrite => self.start_orwrite(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::WriteAtomic => self.start_write_atomic(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::Verify => self.start_verify(info, cmd),
            Cmd::SyncCache => self.start_sync_cache(info, cmd),
            Cmd::PreFetch => self.start_prefetch(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::CompareAndWrite => self.start_compare_and_write(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::WriteSame => self.start_write_same(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::Unmap => self.start_unmap(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::GetLbaStatus => self.start_get_lba_status(info, cmd),
            Cmd::StartStopUnit => self.start_stop_unit(cmd),
            Cmd::PreventAllow => self.start_prevent_allow(cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::Reserve6 => self.start_reserve6(cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::Release6 => self.start_release6(cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::ReadDefectData => self.start_read_defect_data(info, cmd),
            Cmd::ReportTargetPortGroups => self.start_rtpg(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::ReportSupportedOpcodes => self.start_rsoc(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::ModeSelect => self.start_mode_select(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::PrIn => self.start_pr_in(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::PrOut => self.start_pr_out(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::Sanitize => self.start_sanitize(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::ExtendedCopy => self.start_xcopy(info, cmd),
            #[cfg(feature = "scsi-full")]
            Cmd::ReceiveCopyResults => self.start_receive_copy_results(info, cmd),
            // Without `scsi-full` these have no table entry, so never get here.
            #[cfg(not(feature = "scsi-full"))]
            Cmd::WriteAtomic
            | Cmd::CompareAndWrite
            | Cmd::PrIn
            | Cmd::PrOut
            | Cmd::Sanitize
            | Cmd::ExtendedCopy
            | Cmd::ReceiveCopyResults
            | Cmd::ReadDefectData
            | Cmd::ReportSupportedOpcodes
            | Cmd::WriteSame
            | Cmd::Unmap
            | Cmd::GetLbaStatus
            | Cmd::ModeSelect
            | Cmd::Reserve6
            | Cmd::Release6
            | Cmd::OrWrite
            | Cmd::Verify => Err(Sense::illegal_request(
                AdditionalSense::INVALID_COMMAND_OPERATION_CODE,
            )),
        }
    }

    /// Begins a command whose Data-In is generated: `alloc` is its ALLOCATION LENGTH.
    pub(crate) fn generated(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
        alloc: u32,
        sense: Option<Sense>,
    ) -> Start {
        let mut task = self.new_task(info, Op::Generated, cmd);
        task.sense = sense;
        let total = measure(|w| self.generate(&task, w));
        task.data_in(total.min(u64::from(alloc)), cmd.expected_read_len)
    }

    /// Emits the Data-In of a generated task.
    pub(crate) fn generate(&mut self, task: &ScsiTask, w: &mut Window<'_>) {
        let c = &task.cdb;
        match task.cmd {
            Cmd::Inquiry => match Inquiry::parse(c) {
                Ok(Inquiry { vpd: None, .. }) => {
                    let f = self.inquiry_facts();
                    inquiry::standard(&self.id, 0x00, Some(&f), w);
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
            Cmd::ReadCapacity16 => self.read_capacity16(w),
            #[cfg(feature = "scsi-full")]
            Cmd::GetLbaStatus => self.lba_status_data(task, w),
            #[cfg(feature = "scsi-full")]
            Cmd::ReadDefectData => self.defect_data(task, w),
            Cmd::ReportTargetPortGroups => self.rtpg_data(task, w),
            #[cfg(feature = "scsi-full")]
            Cmd::ReportSupportedOpcodes => self.rsoc_data(task, w),
            #[cfg(feature = "scsi-full")]
            Cmd::PrIn => self.res.pr_in_data(task, &self.id, w),
            #[cfg(feature = "scsi-full")]
            Cmd::ReceiveCopyResults => self.copy_results_data(task, w),
            _ => {}
        }
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
                self.read_generated(task, offset, out);
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

    /// Generated Data-In (INQUIRY, MODE SENSE, ...) at `offset` into `out`. Out of line: READ
    /// keeps a small frame.
    #[cfg_attr(not(feature = "small-code"), inline(never))]
    fn read_generated(&mut self, task: &ScsiTask, offset: u32, out: &mut [u8]) {
        out.fill(0);
        let mut w = Window::new(u64::from(offset), out);
        self.generate(task, &mut w);
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
            _ => self.write_other(task, offset, d),
        };
        res.map_err(|s| {
            task.sense = Some(s);
            task.completion()
        })
    }

    /// [`write_data`](Self::write_data) for every command but WRITE. Out of line: WRITE keeps
    /// a small frame.
    #[cfg_attr(not(feature = "small-code"), inline(never))]
    fn write_other(&mut self, task: &mut ScsiTask, offset: u32, d: &[u8]) -> Result<(), Sense> {
        match task.op {
            #[cfg(feature = "scsi-full")]
            Op::OrWrite { offset: base, fua } => {
                self.or_piece(base.saturating_add(u64::from(offset)), d, fua)
            }
            #[cfg(feature = "scsi-full")]
            Op::Compare {
                offset: base,
                repeat,
            } => self.compare_piece(task, base, repeat, offset, d),
            Op::Buffered => {
                if self.scratch.owner == Some(task.tag) {
                    let at = usize::try_from(offset).unwrap_or(usize::MAX);
                    if let Some(dst) = self
                        .scratch
                        .bytes_mut()
                        .get_mut(at..)
                        .and_then(|s| s.get_mut(..d.len()))
                    {
                        dst.copy_from_slice(d);
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Ends the task after its data phase: GOOD with the residual, or the failure recorded
    /// during the data phase (MISCOMPARE with the Data-Out offset in INFORMATION for VERIFY),
    /// or, for commands that act on their whole data (COMPARE AND WRITE, WRITE SAME,
    /// parameter lists), the outcome of acting now. A SANITIZE with IMMED=0 runs its job to
    /// the end here; a session that can hold the status uses
    /// [`finish_or_defer`](Self::finish_or_defer) instead.
    pub fn finish(&mut self, task: &ScsiTask) -> Completion {
        self.finish_with_peers(task, &mut NoPeers)
    }

    /// As [`finish`](Self::finish), letting an EXTENDED COPY reach other logical units of the
    /// target through `peers`.
    pub fn finish_with_peers(&mut self, task: &ScsiTask, peers: &mut dyn CopyPeers) -> Completion {
        if task.op != Op::Buffered && task.miscompare.is_none() && !self.background_pending() {
            // Nothing acts at the end and no background job can hold the status (the READ and
            // WRITE case): the outcome recorded during the data phase.
            return task.completion();
        }
        self.finish_acting(task, peers)
    }

    /// [`finish_with_peers`](Self::finish_with_peers) for a command that acts at the end or
    /// whose status a background job may hold. Out of line: READ and WRITE never get here.
    #[cfg_attr(not(feature = "small-code"), inline(never))]
    fn finish_acting(&mut self, task: &ScsiTask, peers: &mut dyn CopyPeers) -> Completion {
        match self.finish_or_defer(task, peers) {
            Finish::Done(c) => c,
            Finish::Deferred(ticket) => {
                while self.run_background(u64::MAX) {}
                self.deferred_status(task, ticket)
                    .unwrap_or(Completion::BUSY)
            }
        }
    }

    /// As [`finish_with_peers`](Self::finish_with_peers), but a command whose status waits
    /// for background work (SANITIZE with IMMED=0, SBC-4 §5.30) answers
    /// [`Finish::Deferred`]: the owner keeps calling [`run_background`](Self::run_background)
    /// and the session asks [`deferred_status`](Self::deferred_status) until it has the status.
    pub fn finish_or_defer(&mut self, task: &ScsiTask, peers: &mut dyn CopyPeers) -> Finish {
        let completion = self.finish_now(task, peers);
        match self.awaited_job(task, &completion) {
            Some(ticket) => Finish::Deferred(ticket),
            None => Finish::Done(completion),
        }
    }

    fn finish_now(&mut self, task: &ScsiTask, peers: &mut dyn CopyPeers) -> Completion {
        if task.op == Op::Buffered {
            if self.scratch.owner != Some(task.tag) {
                return Completion::BUSY;
            }
            let out = if task.sense.is_some() {
                Ok(())
            } else {
                self.finish_buffered(task, peers)
            };
            if self.scratch.owner == Some(task.tag) {
                self.scratch.owner = None;
            }
            if let Err(c) = out {
                return c.with_residual(task.residual());
            }
        }
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

    fn finish_buffered(
        &mut self,
        task: &ScsiTask,
        peers: &mut dyn CopyPeers,
    ) -> Result<(), Completion> {
        let len = usize::try_from(task.len).unwrap_or(0);
        let r = match task.cmd {
            #[cfg(feature = "scsi-full")]
            Cmd::CompareAndWrite => self.finish_compare_and_write(task, len),
            #[cfg(feature = "scsi-full")]
            Cmd::WriteSame => self.finish_write_same(task),
            #[cfg(feature = "scsi-full")]
            Cmd::WriteAtomic => self.finish_write_atomic(task, len),
            #[cfg(feature = "scsi-full")]
            Cmd::Unmap => self.finish_unmap(len),
            #[cfg(feature = "scsi-full")]
            Cmd::ModeSelect => self.finish_mode_select(task, len),
            #[cfg(feature = "scsi-full")]
            Cmd::Sanitize => self.finish_sanitize(len),
            #[cfg(feature = "scsi-full")]
            Cmd::ExtendedCopy => return self.finish_xcopy(task, len, peers),
            #[cfg(feature = "scsi-full")]
            Cmd::PrOut => {
                let params = self.scratch.bytes().get(..len).unwrap_or(&[]);
                let port = self.id.relative_port_id;
                return self.res.pr_out(task, params, port, &mut self.ua);
            }
            _ => Ok(()),
        };
        r.map_err(Completion::check)
    }

    /// The task was aborted (ABORT TASK, connection loss) before `finish`: releases what it
    /// holds. Any data it already wrote stays written.
    pub fn abort(&mut self, task: &ScsiTask) {
        if self.scratch.owner == Some(task.tag) {
            self.scratch.owner = None;
        }
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

    /// Begins a Data-Out whose data goes whole into the scratch buffer before the command
    /// acts in `finish`. Less data than the command needs is refused (0E/03); a busy scratch
    /// buffer gives BUSY.
    pub(crate) fn start_buffered(
        &mut self,
        task: ScsiTask,
        want: u64,
        expected: u32,
    ) -> Result<Start, Sense> {
        if u64::from(expected) < want {
            return Ok(Start::Done(
                Completion::check(Sense::illegal_request(
                    AdditionalSense::INVALID_FIELD_IN_COMMAND_IU,
                ))
                .with_residual(Residual::of(want, expected)),
            ));
        }
        if want > self.scratch.len() as u64 {
            return Err(Sense::illegal_request(
                AdditionalSense::PARAMETER_LIST_LENGTH_ERROR,
            ));
        }
        if want > 0 && self.scratch.owner.is_some() {
            return Ok(Start::Done(Completion::BUSY));
        }
        let s = task.data_out(want, expected);
        if let Start::DataOut { task, .. } = &s {
            self.scratch.owner = Some(task.tag);
        }
        Ok(s)
    }
}

/// A command refused before it began: CHECK CONDITION with `sense` (rare next to READ/WRITE,
/// so kept out of [`LogicalUnit::start`]).
#[cold]
#[inline(never)]
pub(crate) fn refused(sense: Sense) -> Started {
    Started::Done(Completion::check(sense))
}

/// GOOD for a command without data, with the residual against whatever the initiator
/// expected to move.
pub(crate) fn no_data(cmd: &CommandRequest<'_>) -> Start {
    let expected = cmd.expected_read_len.max(cmd.expected_write_len);
    Start::Done(Completion::GOOD.with_residual(Residual::of(0, expected)))
}
