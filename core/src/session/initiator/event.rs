//! What an initiator connection tells its caller and asks of it: SCSI requests in
//! ([`ScsiRequest`], RFC 7143 §11.3), read data and events out through an [`InitiatorSink`]
//! (§11.4 status, §11.7 Data-In, §11.6 task management, §11.15 logout, Appendix C discovery),
//! write data pulled from a [`WriteSource`] straight into the transmit buffer (§11.7 Data-Out).

use crate::negotiate::NegotiationError;
use crate::task::TaskSlot;
use crate::wire::{
    AsyncEvent, LoginStatus, Lun, RejectReason, Residual, ScsiResponseCode, ScsiStatus,
    TaskAttribute, TaskMgmtResponse,
};

/// A SCSI task submitted on an initiator connection. Valid from submission until its
/// [`InitiatorEvent::TaskDone`]; [`TaskHandle::index`] is below the connection's `TASKS`, so
/// callers can keep per-task buffers in arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TaskHandle(pub(crate) TaskSlot);

impl TaskHandle {
    /// The task table slot, stable for the task's life and reused after it.
    pub const fn index(&self) -> usize {
        self.0.index()
    }
}

/// A task management request (RFC 7143 §11.5) in flight, until its
/// [`InitiatorEvent::TaskManagementDone`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TmfHandle(pub(crate) TaskSlot);

/// One SCSI command to send (RFC 7143 §11.3). Data moves in one direction: `read_len` bytes
/// come back through [`InitiatorSink::read_data`], or `write_len` bytes are pulled through
/// [`WriteSource::write_data`].
#[derive(Clone, Copy, Debug)]
pub struct ScsiRequest<'c> {
    /// Logical unit.
    pub lun: Lun,
    /// The CDB, up to 260 bytes (longer than 16 goes in an Extended CDB AHS, §11.2.2.3).
    pub cdb: &'c [u8],
    /// Expected Data Transfer Length for a read (R bit).
    pub read_len: u32,
    /// Expected Data Transfer Length for a write (W bit).
    pub write_len: u32,
    /// Task attribute (SAM-5); SIMPLE for ordinary I/O.
    pub attr: TaskAttribute,
}

impl<'c> ScsiRequest<'c> {
    /// A command without data (TEST UNIT READY, SYNCHRONIZE CACHE, ...).
    pub const fn no_data(lun: Lun, cdb: &'c [u8]) -> Self {
        ScsiRequest {
            lun,
            cdb,
            read_len: 0,
            write_len: 0,
            attr: TaskAttribute::SIMPLE,
        }
    }

    /// A command reading up to `len` bytes.
    pub const fn read(lun: Lun, cdb: &'c [u8], len: u32) -> Self {
        ScsiRequest {
            lun,
            cdb,
            read_len: len,
            write_len: 0,
            attr: TaskAttribute::SIMPLE,
        }
    }

    /// A command writing `len` bytes.
    pub const fn write(lun: Lun, cdb: &'c [u8], len: u32) -> Self {
        ScsiRequest {
            lun,
            cdb,
            read_len: 0,
            write_len: len,
            attr: TaskAttribute::SIMPLE,
        }
    }
}

/// Why a request could not be submitted. Nothing was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SubmitError {
    /// The connection is not in the full feature phase (still logging in, logging out, closed, or
    /// a discovery session, which carries no SCSI commands, RFC 7143 §4.3).
    NotReady,
    /// Every task slot is in use: wait for a completion.
    TableFull,
    /// The CDB is empty or longer than 260 bytes.
    BadCdb,
    /// Both `read_len` and `write_len` are set: bidirectional commands are not supported.
    Bidirectional,
    /// The task named does not exist (completed already, or never sent for [`super::InitiatorConn::abort_task`]).
    NoSuchTask,
}

/// Why a login did not reach the full feature phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LoginError {
    /// The target refused with this status (RFC 7143 §11.13.5); [`LoginStatus::name`] spells it.
    Refused(LoginStatus),
    /// Negotiation failed on our side: the target's answer was unacceptable, or our configuration.
    Negotiation(NegotiationError),
    /// CHAP failed on our side (RFC 7143 §12.1.3): the target offered no algorithm we support,
    /// sent a malformed challenge, or failed mutual authentication.
    Authentication(AuthFailure),
    /// The target broke a login rule (stage, transit, ISID echo, status on a continued response).
    ProtocolError,
    /// The login took longer than the configured timeout.
    Timeout,
    /// The transport went away during login.
    ConnectionLost,
}

/// What went wrong with CHAP, on the initiator's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum AuthFailure {
    /// The target demands CHAP but we have no credentials.
    NoCredentials,
    /// CHAP_A names no algorithm we offered.
    UnsupportedAlgorithm,
    /// CHAP_I or CHAP_C missing or malformed.
    BadChallenge,
    /// Mutual CHAP: the target's CHAP_N or CHAP_R is missing or wrong.
    TargetNotAuthenticated,
    /// Mutual CHAP: the target reflected our own challenge (RFC 7143 §12.1.3).
    ReflectedChallenge,
}

/// Why a task ended without a SCSI status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TaskError {
    /// The target rejected the command PDU (RFC 7143 §11.17).
    Rejected(RejectReason),
    /// Ended by ABORT TASK, a LUN reset, or a logout (RFC 7143 §11.5, §11.14).
    Aborted,
    /// The connection ended first.
    ConnectionLost,
    /// The target sent data outside the command's buffer, or a Data-In for a write, or a status
    /// that contradicts the data phase.
    ProtocolError,
}

/// The outcome of a SCSI command (RFC 7143 §11.4, or the status on the last Data-In, §11.7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskStatus<'e> {
    /// iSCSI Response: COMMAND_COMPLETED unless the target failed the command.
    pub response: ScsiResponseCode,
    /// SCSI status (valid when `response` is COMMAND_COMPLETED).
    pub status: ScsiStatus,
    /// Sense data (without the 2-byte SenseLength), empty when none came.
    pub sense: &'e [u8],
    /// Residual count with its U/O bit (§11.4.5).
    pub residual: Residual,
    /// Read data bytes delivered to [`InitiatorSink::read_data`].
    pub read_bytes: u32,
}

/// Something the connection reports, in the order it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitiatorEvent<'e> {
    /// The login completed; SCSI commands may be submitted (or, for a discovery session,
    /// SendTargets=All has been queued).
    LoggedIn {
        /// The session handle the target assigned.
        tsih: u16,
    },
    /// The login failed; the connection is closed.
    LoginFailed(LoginError),
    /// One SendTargets entry (RFC 7143 Appendix C): a target and one of its addresses
    /// (`host:port,tag`; `None` when the target listed no address).
    Discovered {
        /// TargetName.
        target_name: &'e str,
        /// One TargetAddress value.
        target_address: Option<&'e str>,
    },
    /// The SendTargets response is complete.
    DiscoveryDone,
    /// A SCSI command ended, with its status or why there is none.
    TaskDone {
        /// The task.
        task: TaskHandle,
        /// Status, or the reason there is none.
        result: Result<TaskStatus<'e>, TaskError>,
    },
    /// A task management request was answered (RFC 7143 §11.6). Tasks it ended are reported
    /// before it, as [`TaskError::Aborted`].
    TaskManagementDone {
        /// The request.
        tmf: TmfHandle,
        /// The target's answer.
        response: TaskMgmtResponse,
    },
    /// A PDU other than a SCSI command was rejected (RFC 7143 §11.17).
    Rejected {
        /// Reason code.
        reason: RejectReason,
    },
    /// An Asynchronous Message (RFC 7143 §11.9); a logout request or a drop notice is up to the
    /// caller to act on.
    AsyncMessage {
        /// The event code.
        event: AsyncEvent,
        /// Parameter3 (Time2Wait / time to logout), for what it is worth.
        parameter3: u16,
    },
    /// The Logout Response arrived (RFC 7143 §11.15); the connection is closed.
    LoggedOut {
        /// True when the target reported success.
        success: bool,
    },
    /// The connection ended (protocol error, NOP timeout, or transport loss); every task was
    /// reported first.
    Closed(CloseCause),
}

/// Why an initiator connection closed other than by logout or login failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CloseCause {
    /// A header digest error or a header we cannot parse (RFC 7143 §7.8).
    FramingError,
    /// The target broke a protocol rule we cannot recover from at ErrorRecoveryLevel 0.
    ProtocolError,
    /// The target did not answer our NOP-Out ping in time.
    PingTimeout,
    /// The transport went away.
    ConnectionLost,
}

/// Where read data and events go. Called from [`super::InitiatorConn::handle_bytes`] (and
/// [`super::InitiatorConn::handle_timeout`] / [`super::InitiatorConn::connection_lost`]).
pub trait InitiatorSink {
    /// `data` is read data of `task` at byte `offset` of its buffer (RFC 7143 §11.7.5: Buffer
    /// Offset). Pieces arrive in the target's order and never overlap the buffer's end.
    fn read_data(&mut self, task: TaskHandle, offset: u32, data: &[u8]);

    /// Something happened.
    fn event(&mut self, event: InitiatorEvent<'_>);
}

/// Where write data comes from. Called from [`super::InitiatorConn::poll_transmit`] with a slice
/// of the transmit buffer, so the data goes onto the wire without another copy.
pub trait WriteSource {
    /// Fills `buf` with the write data of `task` starting at byte `offset`.
    fn write_data(&mut self, task: TaskHandle, offset: u32, buf: &mut [u8]);
}

/// A [`WriteSource`] for connections that never write (discovery, reads only): zeros.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoWriteData;

impl WriteSource for NoWriteData {
    fn write_data(&mut self, _task: TaskHandle, _offset: u32, buf: &mut [u8]) {
        buf.fill(0);
    }
}
