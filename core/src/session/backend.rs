//! What a target connection asks of the world around it: the targets it may offer, who may log
//! in, CHAP secrets, session handles, and the SCSI logical units. The daemon implements this once
//! (with locks where it shares LUs between threads); firmware implements it over static LUs.

use crate::scsi::{CommandRequest, Completion, Finish, ScsiTask, Start, Started, Ticket};
use crate::session::chap::ChapAlgorithm;
use crate::wire::Lun;

/// Index of a target in the backend's directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TargetId(pub u16);

/// A CHAP identity and secret.
#[derive(Clone, Copy, Debug)]
pub struct ChapCredentials<'a> {
    /// CHAP_N: the name.
    pub name: &'a str,
    /// The shared secret (RFC 7143 §12.1.3: at least 12 bytes recommended; we do not enforce).
    pub secret: &'a [u8],
}

/// Authentication a target demands of initiators.
#[derive(Clone, Copy, Debug)]
pub enum AuthPolicy<'a> {
    /// AuthMethod=None is acceptable.
    None,
    /// CHAP is required; the initiator must answer with `initiator`; when `target` is set the
    /// initiator may (mutual CHAP) ask the target to prove itself with it. (Feature `chap`.)
    #[cfg(feature = "chap")]
    Chap {
        /// What the initiator must know.
        initiator: ChapCredentials<'a>,
        /// What the target proves to the initiator, for mutual CHAP.
        target: Option<ChapCredentials<'a>>,
    },
    /// Without feature `chap` there is nothing to borrow; this cannot be constructed.
    #[cfg(not(feature = "chap"))]
    #[doc(hidden)]
    NoChap(core::convert::Infallible, core::marker::PhantomData<&'a ()>),
}

/// One entry of SendTargets output.
#[derive(Clone, Copy, Debug)]
pub struct TargetListing<'a> {
    /// TargetName.
    pub name: &'a str,
    /// TargetAddress value: `host:port,portal-group-tag`.
    pub address: &'a str,
}

/// Why a new session could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SessionRefused {
    /// Session limit reached (Login status 0x0306 out of resources).
    TooManySessions,
}

/// The world a target connection runs in.
pub trait TargetBackend {
    /// Looks a target up by its iSCSI name (compared case-sensitively after the initiator's
    /// normalisation, RFC 3722).
    fn find_target(&self, name: &str) -> Option<TargetId>;

    /// Whether `initiator` (iSCSI name) may log in to `target` and see it in SendTargets.
    fn may_access(&self, target: TargetId, initiator: &str) -> bool;

    /// Authentication policy for a normal session to `target`.
    fn auth_policy(&self, target: TargetId) -> AuthPolicy<'_>;

    /// Authentication policy for discovery sessions.
    fn discovery_auth_policy(&self) -> AuthPolicy<'_>;

    /// Calls `f` for each target `initiator` may see, in a stable order.
    fn for_each_target(&self, initiator: &str, f: &mut dyn FnMut(TargetListing<'_>));

    /// The target's TargetPortalGroupTag.
    fn portal_group_tag(&self, target: TargetId) -> u16;

    /// Allocates a TSIH for a new session of (`initiator`, `isid`), closing (reinstating) any
    /// older session with the same pair (RFC 7143 §6.3.5). Never returns 0.
    fn new_session(
        &mut self,
        initiator: &str,
        isid: [u8; 6],
        target: Option<TargetId>,
    ) -> Result<u16, SessionRefused>;

    /// The session identified by `tsih` ended.
    fn end_session(&mut self, tsih: u16);

    /// A nexus index for (`initiator` port, `target`), used by SCSI reservations and unit
    /// attentions.
    fn nexus(&mut self, initiator: &str, isid: [u8; 6], target: TargetId) -> u16;

    /// Starts a SCSI command to `lun` of `target` (LUNs that do not exist answer as SPC says).
    fn scsi_start(&mut self, target: TargetId, lun: Lun, req: &CommandRequest<'_>) -> Start;

    /// As [`scsi_start`](Self::scsi_start), writing the SCSI task of a data phase straight into
    /// `task` (the session's task table entry) rather than returning it: the session calls this
    /// one. A backend over [`LogicalUnit`](crate::scsi::LogicalUnit)s gives it
    /// `LogicalUnit::start_in`, which builds READ and WRITE tasks there with no copy.
    fn scsi_start_in(
        &mut self,
        target: TargetId,
        lun: Lun,
        req: &CommandRequest<'_>,
        task: &mut Option<ScsiTask>,
    ) -> Started {
        self.scsi_start(target, lun, req).place(task)
    }

    /// Produces read data of a started task at `offset` into `buf`.
    fn scsi_read(
        &mut self,
        target: TargetId,
        lun: Lun,
        task: &ScsiTask,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<usize, Completion>;

    /// Consumes write data of a started task at `offset`.
    fn scsi_write(
        &mut self,
        target: TargetId,
        lun: Lun,
        task: &mut ScsiTask,
        offset: u32,
        data: &[u8],
    ) -> Result<(), Completion>;

    /// A started task ends without `scsi_finish` (aborted, failed in its data phase, or its
    /// connection went away): the logical unit releases what the task held.
    fn scsi_abort(&mut self, target: TargetId, lun: Lun, task: &ScsiTask);

    /// Ends a task whose data phase is over and gives its status, or says it comes later
    /// ([`Finish::Deferred`]: the command's work goes on in the background, e.g. SANITIZE with
    /// IMMED=0). A backend that defers must keep that work running by itself.
    fn scsi_finish(&mut self, target: TargetId, lun: Lun, task: &ScsiTask) -> Finish;

    /// The status of a task whose `scsi_finish` said [`Finish::Deferred`], once known (the
    /// connection asks again every [`DEFERRED_POLL`](crate::session::target::DEFERRED_POLL)).
    fn scsi_poll(
        &mut self,
        target: TargetId,
        lun: Lun,
        task: &ScsiTask,
        ticket: Ticket,
    ) -> Option<Completion>;

    /// Task management reached the logical unit: `function` is the RFC 7143 §11.5.1 code.
    /// Returns false when the LUN does not exist.
    fn task_management(&mut self, target: TargetId, lun: Lun, function: u8, nexus: u16) -> bool;
}

/// The CHAP algorithms we offer, in order of preference.
pub const CHAP_ALGORITHMS: [ChapAlgorithm; 2] = [ChapAlgorithm::Sha256, ChapAlgorithm::Md5];
