//! The outcome of a SCSI command: status (SAM-5 §5.3), sense data and the iSCSI residual
//! (RFC 7143 §11.4.5: Residual Count, O and U bits of the SCSI Response).

use super::sense::{AdditionalSense, Sense, SenseKey};

scsi_enum! {
    /// SCSI STATUS code (SAM-5 §5.3.1, table 30).
    pub struct Status(u8) {
        GOOD = 0x00,
        CHECK_CONDITION = 0x02,
        CONDITION_MET = 0x04,
        BUSY = 0x08,
        RESERVATION_CONFLICT = 0x18,
        TASK_SET_FULL = 0x28,
        ACA_ACTIVE = 0x30,
        TASK_ABORTED = 0x40,
    }
}

/// Residual of the data transfer against the iSCSI Expected Data Transfer Length
/// (RFC 7143 §11.4.5.1–§11.4.5.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Residual {
    /// The command wanted exactly the expected length.
    #[default]
    None,
    /// U bit: the command wanted this many bytes fewer than expected.
    Under(u32),
    /// O bit: the command wanted this many bytes more than expected; they were not moved.
    Over(u32),
}

impl Residual {
    /// Residual when the command wants `wanted` bytes and the initiator expected `expected`.
    pub fn of(wanted: u64, expected: u32) -> Residual {
        let expected = u64::from(expected);
        if wanted > expected {
            Residual::Over(u32::try_from(wanted.saturating_sub(expected)).unwrap_or(u32::MAX))
        } else if wanted < expected {
            Residual::Under(u32::try_from(expected.saturating_sub(wanted)).unwrap_or(u32::MAX))
        } else {
            Residual::None
        }
    }

    /// The Residual Count field value.
    pub fn count(self) -> u32 {
        match self {
            Residual::None => 0,
            Residual::Under(n) | Residual::Over(n) => n,
        }
    }
}

/// Names one piece of background work a command's status waits for (a SANITIZE with IMMED=0,
/// SBC-4 §5.30): the session holds the status until
/// [`LogicalUnit::deferred_status`](super::LogicalUnit::deferred_status) gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ticket(pub(crate) u32);

/// How a task ends once its data phase is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Finish {
    /// Send this status now.
    Done(Completion),
    /// The command's work goes on in the background; its status comes later (ask with the
    /// ticket). Other commands are answered meanwhile.
    Deferred(Ticket),
}

impl From<Completion> for Finish {
    fn from(c: Completion) -> Finish {
        Finish::Done(c)
    }
}

/// What the session sends in the SCSI Response PDU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Completion {
    /// SCSI status.
    pub status: Status,
    /// Sense data, present with CHECK CONDITION. (REQUEST SENSE returns its sense data in the
    /// Data-In buffer with GOOD status, not here.)
    pub sense: Option<Sense>,
    /// Residual against the Expected Data Transfer Length.
    pub residual: Residual,
}

impl Completion {
    /// GOOD, no sense, no residual.
    pub const GOOD: Completion = Completion {
        status: Status::GOOD,
        sense: None,
        residual: Residual::None,
    };

    /// CHECK CONDITION with `sense`.
    pub const fn check(sense: Sense) -> Completion {
        Completion {
            status: Status::CHECK_CONDITION,
            sense: Some(sense),
            residual: Residual::None,
        }
    }

    /// CHECK CONDITION with `key` and `code`.
    pub const fn check_code(key: SenseKey, code: AdditionalSense) -> Completion {
        Completion::check(Sense::new(key, code))
    }

    /// RESERVATION CONFLICT (no sense data).
    pub const RESERVATION_CONFLICT: Completion = Completion {
        status: Status::RESERVATION_CONFLICT,
        sense: None,
        residual: Residual::None,
    };

    /// BUSY (no sense data): the logical unit cannot take the command now; retry later.
    pub const BUSY: Completion = Completion {
        status: Status::BUSY,
        sense: None,
        residual: Residual::None,
    };

    /// This completion with `residual`.
    pub const fn with_residual(mut self, residual: Residual) -> Completion {
        self.residual = residual;
        self
    }

    /// True for GOOD status.
    pub fn is_good(&self) -> bool {
        self.status == Status::GOOD
    }
}

impl From<Sense> for Completion {
    fn from(s: Sense) -> Completion {
        Completion::check(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_residual_of() {
        assert_eq!(Residual::of(512, 512), Residual::None);
        assert_eq!(Residual::of(512, 0), Residual::Over(512));
        assert_eq!(Residual::of(512, 10000), Residual::Under(10000 - 512));
        assert_eq!(Residual::of(u64::MAX, 0), Residual::Over(u32::MAX));
        assert_eq!(Residual::Over(7).count(), 7);
    }
}
