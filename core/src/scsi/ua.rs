//! Unit attention conditions, kept per I_T nexus (SAM-5 §5.14, SPC-4 §5.14 / §7.5.12 UA
//! reporting): which are pending, in which order they are reported, and their sense codes.

use super::sense::{AdditionalSense, Sense, SenseKey};
use super::task::NexusId;

/// A unit attention condition. Pending conditions are reported one per command, in the order
/// of this list (resets first), each consumed when reported (UA_INTLCK_CTRL = 00b).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum UnitAttention {
    /// 29/00 POWER ON, RESET, OR BUS DEVICE RESET OCCURRED (start, target warm/cold reset).
    PowerOnReset,
    /// 29/03 BUS DEVICE RESET FUNCTION OCCURRED (LOGICAL UNIT RESET).
    LunReset,
    /// 29/07 I_T NEXUS LOSS OCCURRED.
    NexusLoss,
    /// 2A/01 MODE PARAMETERS CHANGED (by another I_T nexus).
    ModeParametersChanged,
    /// 2A/03 RESERVATIONS PREEMPTED.
    ReservationsPreempted,
    /// 2A/04 RESERVATIONS RELEASED.
    ReservationsReleased,
    /// 2A/05 REGISTRATIONS PREEMPTED.
    RegistrationsPreempted,
    /// 2A/06 ASYMMETRIC ACCESS STATE CHANGED.
    AsymmetricAccessStateChanged,
    /// 2A/09 CAPACITY DATA HAS CHANGED.
    CapacityChanged,
    /// 3F/03 INQUIRY DATA HAS CHANGED.
    InquiryDataChanged,
    /// 3F/0E REPORTED LUNS DATA HAS CHANGED.
    ReportedLunsChanged,
}

impl UnitAttention {
    const ALL: [UnitAttention; 11] = [
        UnitAttention::PowerOnReset,
        UnitAttention::LunReset,
        UnitAttention::NexusLoss,
        UnitAttention::ModeParametersChanged,
        UnitAttention::ReservationsPreempted,
        UnitAttention::ReservationsReleased,
        UnitAttention::RegistrationsPreempted,
        UnitAttention::AsymmetricAccessStateChanged,
        UnitAttention::CapacityChanged,
        UnitAttention::InquiryDataChanged,
        UnitAttention::ReportedLunsChanged,
    ];

    /// Its bit in a pending set: the discriminant, which is its index in [`Self::ALL`] (the
    /// reporting order).
    fn bit(self) -> u16 {
        1u16.checked_shl(self as u32).unwrap_or(0)
    }

    /// The additional sense code reported for this condition.
    pub fn code(self) -> AdditionalSense {
        match self {
            UnitAttention::PowerOnReset => AdditionalSense::POWER_ON_RESET,
            UnitAttention::LunReset => AdditionalSense::BUS_DEVICE_RESET_FUNCTION_OCCURRED,
            UnitAttention::NexusLoss => AdditionalSense::I_T_NEXUS_LOSS_OCCURRED,
            UnitAttention::ModeParametersChanged => AdditionalSense::MODE_PARAMETERS_CHANGED,
            UnitAttention::ReservationsPreempted => AdditionalSense::RESERVATIONS_PREEMPTED,
            UnitAttention::ReservationsReleased => AdditionalSense::RESERVATIONS_RELEASED,
            UnitAttention::RegistrationsPreempted => AdditionalSense::REGISTRATIONS_PREEMPTED,
            UnitAttention::AsymmetricAccessStateChanged => {
                AdditionalSense::ASYMMETRIC_ACCESS_STATE_CHANGED
            }
            UnitAttention::CapacityChanged => AdditionalSense::CAPACITY_DATA_HAS_CHANGED,
            UnitAttention::InquiryDataChanged => AdditionalSense::INQUIRY_DATA_HAS_CHANGED,
            UnitAttention::ReportedLunsChanged => AdditionalSense::REPORTED_LUNS_DATA_HAS_CHANGED,
        }
    }

    /// UNIT ATTENTION sense data for this condition.
    pub fn sense(self) -> Sense {
        Sense::new(SenseKey::UNIT_ATTENTION, self.code())
    }

    fn is_reset(self) -> bool {
        matches!(
            self,
            UnitAttention::PowerOnReset | UnitAttention::LunReset | UnitAttention::NexusLoss
        )
    }
}

/// Pending unit attentions for up to `N` I_T nexuses. Nexus indices `>= N` never see one.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UnitAttentions<const N: usize> {
    pending: [u16; N],
}

impl<const N: usize> UnitAttentions<N> {
    /// Every nexus starts with POWER ON, RESET OR BUS DEVICE RESET OCCURRED pending.
    pub(crate) fn new() -> Self {
        UnitAttentions {
            pending: [UnitAttention::PowerOnReset.bit(); N],
        }
    }

    /// Establishes `ua` for `nexus`. A reset-class condition replaces the others pending for
    /// it (SPC-4 §5.14: the device server may clear other conditions when reporting a reset).
    pub(crate) fn raise(&mut self, nexus: NexusId, ua: UnitAttention) {
        if let Some(p) = self.pending.get_mut(usize::from(nexus.0)) {
            if ua.is_reset() {
                *p = ua.bit();
            } else {
                *p |= ua.bit();
            }
        }
    }

    /// Establishes `ua` for every nexus except `except`.
    pub(crate) fn raise_all(&mut self, ua: UnitAttention, except: Option<NexusId>) {
        for i in 0..N {
            let n = NexusId(u16::try_from(i).unwrap_or(u16::MAX));
            if Some(n) != except {
                self.raise(n, ua);
            }
        }
    }

    /// Clears everything pending for `nexus`.
    #[cfg(test)]
    pub(crate) fn clear(&mut self, nexus: NexusId) {
        if let Some(p) = self.pending.get_mut(usize::from(nexus.0)) {
            *p = 0;
        }
    }

    /// The condition that would be reported next for `nexus`.
    pub(crate) fn peek(&self, nexus: NexusId) -> Option<UnitAttention> {
        let p = *self.pending.get(usize::from(nexus.0))?;
        if p == 0 {
            return None;
        }
        UnitAttention::ALL.get(p.trailing_zeros() as usize).copied()
    }

    /// Reports and consumes the next condition for `nexus`.
    pub(crate) fn take(&mut self, nexus: NexusId) -> Option<UnitAttention> {
        let ua = self.peek(nexus)?;
        if let Some(p) = self.pending.get_mut(usize::from(nexus.0)) {
            *p &= !ua.bit();
        }
        Some(ua)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_bits_follow_reporting_order() {
        for (i, u) in UnitAttention::ALL.iter().enumerate() {
            assert_eq!(u.bit(), 1 << i, "{u:?}");
        }
    }

    #[test]
    fn test_order_and_consume() {
        let mut u = UnitAttentions::<2>::new();
        let n0 = NexusId(0);
        u.raise(n0, UnitAttention::CapacityChanged);
        u.raise(n0, UnitAttention::ModeParametersChanged);
        assert_eq!(u.take(n0), Some(UnitAttention::PowerOnReset));
        assert_eq!(u.take(n0), Some(UnitAttention::ModeParametersChanged));
        assert_eq!(u.take(n0), Some(UnitAttention::CapacityChanged));
        assert_eq!(u.take(n0), None);
        assert_eq!(u.peek(NexusId(1)), Some(UnitAttention::PowerOnReset));
        assert_eq!(u.take(NexusId(9)), None, "unknown nexus never has one");
    }

    #[test]
    fn test_reset_replaces_others() {
        let mut u = UnitAttentions::<2>::new();
        u.clear(NexusId(0));
        u.raise(NexusId(0), UnitAttention::CapacityChanged);
        u.raise_all(UnitAttention::LunReset, Some(NexusId(1)));
        assert_eq!(u.take(NexusId(0)), Some(UnitAttention::LunReset));
        assert_eq!(u.take(NexusId(0)), None);
        assert_eq!(u.take(NexusId(1)), Some(UnitAttention::PowerOnReset));
    }

    #[test]
    fn test_sense_codes() {
        let s = UnitAttention::LunReset.sense();
        assert_eq!(s.key, SenseKey::UNIT_ATTENTION);
        assert_eq!((s.code.asc(), s.code.ascq()), (0x29, 0x03));
    }
}
