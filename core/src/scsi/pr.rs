//! Reservations: SPC-2 RESERVE(6)/RELEASE(6) and persistent reservations (SPC-4 §5.13,
//! PERSISTENT RESERVE OUT §6.14), with the command access rules of SPC-4 table 46. State lives in fixed arrays; [`PrState`] is plain data for saving (APTPL).

use super::cdb;
use super::commands::{Access, Cmd, CmdInfo};
use super::completion::Completion;
use super::identity::FixedStr;
use super::sense::{AdditionalSense, Sense};
use super::task::{NexusId, ScsiTask};
use super::ua::{UnitAttention, UnitAttentions};

/// Longest initiator port name: iSCSI name (223) + ",i,0x" + 12 hex digits of ISID.
pub const PORT_NAME_LEN: usize = 240;

scsi_enum! {
    /// Persistent reservation TYPE (SPC-4 §6.14.2, table 169).
    pub struct PrType(u8) {
        WRITE_EXCLUSIVE = 1,
        EXCLUSIVE_ACCESS = 3,
        WRITE_EXCLUSIVE_REGISTRANTS_ONLY = 5,
        EXCLUSIVE_ACCESS_REGISTRANTS_ONLY = 6,
        WRITE_EXCLUSIVE_ALL_REGISTRANTS = 7,
        EXCLUSIVE_ACCESS_ALL_REGISTRANTS = 8,
    }
}

impl PrType {
    fn valid(self) -> bool {
        matches!(self.0, 1 | 3 | 5 | 6 | 7 | 8)
    }
    /// Every registrant holds the reservation (the "all registrants" types).
    fn all_registrants(self) -> bool {
        matches!(self.0, 7 | 8)
    }
    /// Registrants have access (registrants-only and all-registrants types).
    fn registrants_access(self) -> bool {
        matches!(self.0, 5..=8)
    }
    /// Non-registrants may still read (the write-exclusive types).
    fn reads_allowed(self) -> bool {
        matches!(self.0, 1 | 5 | 7)
    }
}

/// One registered I_T nexus (SPC-4 §5.13.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Registration {
    /// The reservation key.
    pub key: u64,
    /// The initiator port name (iSCSI `"<name>,i,0x<ISID>"`).
    pub initiator_port: FixedStr<PORT_NAME_LEN>,
    /// RELATIVE TARGET PORT IDENTIFIER of the target port registered through.
    pub relative_port_id: u16,
}

/// The persistent reservation (SPC-4 §5.13.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PrReservation {
    /// Reservation type.
    pub kind: PrType,
    /// Index in [`PrState::registrations`] of the holder; `None` for all-registrants types.
    pub holder: Option<usize>,
}

/// Persistent reservation state of a logical unit, plain data for saving when APTPL is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PrState<const N: usize> {
    /// PRGENERATION: bumped by every REGISTER, CLEAR, PREEMPT (SPC-4 §6.13.2).
    pub generation: u32,
    /// Registrations, at most `N`.
    pub registrations: [Option<Registration>; N],
    /// The reservation, if any.
    pub reservation: Option<PrReservation>,
    /// Activate Persist Through Power Loss, as last set by a registration.
    pub aptpl: bool,
}

impl<const N: usize> Default for PrState<N> {
    fn default() -> Self {
        PrState {
            generation: 0,
            registrations: [None; N],
            reservation: None,
            aptpl: false,
        }
    }
}

/// All reservation state of a logical unit.
#[derive(Debug)]
pub(crate) struct Reservations<const N: usize> {
    pub(crate) pr: PrState<N>,
    /// Holder of the SPC-2 RESERVE(6) reservation.
    pub(crate) reserve6: Option<NexusId>,
    /// Initiator port name per nexus slot (empty: a synthetic per-slot name is used).
    ports: [FixedStr<PORT_NAME_LEN>; N],
}

/// Outcome of a PERSISTENT RESERVE OUT that is not GOOD.
enum PrError {
    Conflict,
    Sense(Sense),
}

impl From<Sense> for PrError {
    fn from(s: Sense) -> Self {
        PrError::Sense(s)
    }
}

impl<const N: usize> Reservations<N> {
    pub(crate) fn new() -> Self {
        Reservations {
            pr: PrState::default(),
            reserve6: None,
            ports: [FixedStr::default(); N],
        }
    }

    pub(crate) fn pr(&self) -> &PrState<N> {
        &self.pr
    }

    pub(crate) fn restore(&mut self, state: PrState<N>) {
        self.pr = state;
    }

    pub(crate) fn set_initiator_port(&mut self, nexus: NexusId, name: &str) -> bool {
        match (
            self.ports.get_mut(usize::from(nexus.0)),
            FixedStr::new(name),
        ) {
            (Some(slot), Some(n)) => {
                *slot = n;
                true
            }
            _ => false,
        }
    }

    /// The port name of `nexus`, or `"nexus-<n>"` if none was set.
    fn port_of(&self, nexus: NexusId) -> FixedStr<PORT_NAME_LEN> {
        match self.ports.get(usize::from(nexus.0)) {
            Some(p) if !p.is_empty() => *p,
            _ => {
                let mut digits = [b'0'; 5];
                let mut v = nexus.0;
                for d in digits.iter_mut().rev() {
                    *d = b'0'.saturating_add((v % 10) as u8);
                    v /= 10;
                }
                let mut name = *b"nexus-00000";
                name[6..].copy_from_slice(&digits);
                core::str::from_utf8(&name)
                    .ok()
                    .and_then(FixedStr::new)
                    .unwrap_or_default()
            }
        }
    }

    /// Index of the registration of `nexus`.
    fn registration_of(&self, nexus: NexusId) -> Option<usize> {
        let port = self.port_of(nexus);
        self.pr
            .registrations
            .iter()
            .position(|r| r.is_some_and(|r| r.initiator_port == port))
    }

    pub(crate) fn key_of(&self, i: usize) -> u64 {
        self.pr
            .registrations
            .get(i)
            .copied()
            .flatten()
            .map_or(0, |r| r.key)
    }

    /// Nexus slots whose initiator port is `port`.
    fn nexuses_of(&self, port: &FixedStr<PORT_NAME_LEN>) -> impl Iterator<Item = NexusId> + '_ {
        let port = *port;
        (0..N).filter_map(move |i| {
            let n = NexusId(u16::try_from(i).ok()?);
            (self.port_of(n) == port).then_some(n)
        })
    }

    pub(crate) fn release_reserve6(&mut self) {
        self.reserve6 = None;
    }

    pub(crate) fn nexus_lost(&mut self, nexus: NexusId) {
        if self.reserve6 == Some(nexus) {
            self.reserve6 = None;
        }
    }

    /// RESERVE(6) from `nexus`; false on conflict.
    pub(crate) fn reserve6(&mut self, nexus: NexusId) -> bool {
        let registered = self.pr.registrations.iter().any(Option::is_some);
        match self.reserve6 {
            _ if registered => false,
            Some(h) if h != nexus => false,
            _ => {
                self.reserve6 = Some(nexus);
                true
            }
        }
    }

    pub(crate) fn release6(&mut self, nexus: NexusId) {
        if self.reserve6 == Some(nexus) {
            self.reserve6 = None;
        }
    }

    /// True when `info` from `nexus` conflicts with a reservation held by another nexus.
    /// Nothing is reserved (RESERVE(6) or persistent): no command can conflict.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn is_idle(&self) -> bool {
        self.reserve6.is_none() && self.pr.reservation.is_none()
    }

    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn conflicts(&self, info: &CmdInfo, c: &[u8], nexus: NexusId) -> bool {
        if !cfg!(feature = "scsi-full") || self.is_idle() {
            // Nothing reserved: no command conflicts (the common case, one test). Without
            // `scsi-full` no RESERVE(6) or PERSISTENT RESERVE OUT can reserve anything.
            return false;
        }
        self.conflicts_with_reservation(info, c, nexus)
    }

    fn conflicts_with_reservation(&self, info: &CmdInfo, c: &[u8], nexus: NexusId) -> bool {
        if let Some(h) = self.reserve6 {
            if h != nexus && info.access != Access::Always {
                return true;
            }
        }
        let Some(r) = self.pr.reservation else {
            return false;
        };
        if matches!(info.cmd, Cmd::PrIn | Cmd::PrOut) {
            return false;
        }
        let mine = self.registration_of(nexus);
        let holder = match r.holder {
            None => mine.is_some(),
            Some(h) => mine == Some(h),
        };
        if holder || (mine.is_some() && r.kind.registrants_access()) {
            return false;
        }
        let access = match info.cmd {
            // SPC-4 table 46: START STOP UNIT with START=1 and PREVENT ALLOW with
            // PREVENT=0 are allowed, the other forms conflict.
            Cmd::StartStopUnit if cdb::u8_at(c, 4) & 0x01 != 0 => Access::Always,
            Cmd::PreventAllow if cdb::u8_at(c, 4) & 0x03 == 0 => Access::Always,
            _ => info.access,
        };
        match access {
            Access::Always | Access::Status => false,
            Access::Read => !r.kind.reads_allowed(),
            Access::Write => true,
        }
    }

    /// Checks the PERSISTENT RESERVE OUT CDB fields that do not need the parameter list.
    pub(crate) fn check_pr_out_cdb(c: &[u8]) -> Result<(), Sense> {
        let sa = cdb::u8_at(c, 1) & 0x1f;
        let scope_type = cdb::u8_at(c, 2);
        if matches!(sa, 1 | 2 | 4 | 5 | 7) {
            if scope_type >> 4 != 0 {
                return Err(Sense::invalid_field_in_cdb(2, Some(7)));
            }
            if !PrType(scope_type & 0x0f).valid() {
                return Err(Sense::invalid_field_in_cdb(2, Some(3)));
            }
        }
        let plen = cdb::be32(c, 5);
        // REGISTER AND MOVE carries a TransportID (at least 20 bytes) after the 24.
        let ok = if sa == 7 { plen >= 44 } else { plen == 24 };
        if !ok {
            return Err(Sense::illegal_request(
                AdditionalSense::PARAMETER_LIST_LENGTH_ERROR,
            ));
        }
        Ok(())
    }

    /// Executes PERSISTENT RESERVE OUT with its parameter list (24 bytes, more for REGISTER AND MOVE).
    pub(crate) fn pr_out<const M: usize>(
        &mut self,
        task: &ScsiTask,
        params: &[u8],
        relative_port_id: u16,
        ua: &mut UnitAttentions<M>,
    ) -> Result<(), Completion> {
        match self.pr_out_inner(task, params, relative_port_id, ua) {
            Ok(()) => Ok(()),
            Err(PrError::Conflict) => Err(Completion::RESERVATION_CONFLICT),
            Err(PrError::Sense(s)) => Err(Completion::check(s)),
        }
    }

    fn pr_out_inner<const M: usize>(
        &mut self,
        task: &ScsiTask,
        p: &[u8],
        relative_port_id: u16,
        ua: &mut UnitAttentions<M>,
    ) -> Result<(), PrError> {
        if p.len() < 24 {
            return Err(
                Sense::illegal_request(AdditionalSense::PARAMETER_LIST_LENGTH_ERROR).into(),
            );
        }
        let sa = task.cdb[1] & 0x1f;
        let kind = PrType(task.cdb[2] & 0x0f);
        let rk = cdb::be64(p, 0);
        let sark = cdb::be64(p, 8);
        if sa == 7 {
            return self.register_and_move(task.nexus, p, rk, sark);
        }
        let flags = cdb::u8_at(p, 20);
        if flags & 0x08 != 0 {
            // SPEC_I_PT is not supported (SIP_C 0).
            return Err(Sense::invalid_field_in_parameter_list(20, Some(3)).into());
        }
        if self.reserve6.is_some_and(|h| h != task.nexus) {
            return Err(PrError::Conflict);
        }
        let nexus = task.nexus;
        let mine = self.registration_of(nexus);
        let registered_key = mine.map(|i| self.key_of(i));
        match sa {
            // REGISTER, REGISTER AND IGNORE EXISTING KEY
            0 | 6 => {
                if sa == 0 {
                    match registered_key {
                        None if rk != 0 => return Err(PrError::Conflict),
                        Some(k) if k != rk => return Err(PrError::Conflict),
                        _ => {}
                    }
                }
                match mine {
                    None if sark == 0 => {}
                    None => {
                        let initiator_port = self.port_of(nexus);
                        let slot = self
                            .pr
                            .registrations
                            .iter_mut()
                            .find(|r| r.is_none())
                            .ok_or(Sense::illegal_request(
                                AdditionalSense::INSUFFICIENT_REGISTRATION_RESOURCES,
                            ))?;
                        *slot = Some(Registration {
                            key: sark,
                            initiator_port,
                            relative_port_id,
                        });
                        self.pr.aptpl = flags & 0x01 != 0;
                    }
                    Some(i) if sark == 0 => self.unregister(i, ua),
                    Some(i) => {
                        if let Some(Some(r)) = self.pr.registrations.get_mut(i) {
                            r.key = sark;
                        }
                        self.pr.aptpl = flags & 0x01 != 0;
                    }
                }
                self.pr.generation = self.pr.generation.wrapping_add(1);
                Ok(())
            }
            _ => {
                let Some(me) = mine else {
                    return Err(PrError::Conflict);
                };
                if registered_key != Some(rk) {
                    return Err(PrError::Conflict);
                }
                match sa {
                    1 => self.reserve(me, kind),
                    2 => self.release(me, kind, ua),
                    3 => {
                        self.clear(me, ua);
                        Ok(())
                    }
                    _ => self.preempt(me, kind, sark, ua),
                }
            }
        }
    }

    /// REGISTER AND MOVE (SPC-4 §5.13.8): the holder hands its reservation to the I_T nexus
    /// named by the TransportID, registering it with SARK; UNREG unregisters the issuer.
    fn register_and_move(
        &mut self,
        nexus: NexusId,
        p: &[u8],
        rk: u64,
        sark: u64,
    ) -> Result<(), PrError> {
        if self.reserve6.is_some_and(|h| h != nexus) {
            return Err(PrError::Conflict);
        }
        let Some(me) = self.registration_of(nexus) else {
            return Err(PrError::Conflict);
        };
        if self.key_of(me) != rk {
            return Err(PrError::Conflict);
        }
        let Some(res) = self.pr.reservation else {
            return Err(PrError::Conflict);
        };
        if res.holder != Some(me) {
            return Err(PrError::Conflict);
        }
        if sark == 0 {
            return Err(Sense::invalid_field_in_parameter_list(8, None).into());
        }
        let flags = cdb::u8_at(p, 17);
        let rel_port = cdb::be16(p, 18);
        let tid_len = cdb::be32(p, 20) as usize;
        let tid = p
            .get(24..24usize.saturating_add(tid_len))
            .ok_or(Sense::illegal_request(
                AdditionalSense::PARAMETER_LIST_LENGTH_ERROR,
            ))?;
        if cdb::u8_at(tid, 0) & 0x0f != 5 {
            // Only iSCSI TransportIDs.
            return Err(Sense::invalid_field_in_parameter_list(24, Some(3)).into());
        }
        let name_bytes = tid.get(4..).unwrap_or(&[]);
        let end = name_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(name_bytes.len());
        let dest = core::str::from_utf8(name_bytes.get(..end).unwrap_or(&[]))
            .ok()
            .and_then(FixedStr::<PORT_NAME_LEN>::new)
            .filter(|n| !n.is_empty())
            .ok_or(Sense::invalid_field_in_parameter_list(28, None))?;
        if self
            .pr
            .registrations
            .get(me)
            .copied()
            .flatten()
            .map(|r| r.initiator_port)
            == Some(dest)
        {
            return Err(Sense::invalid_field_in_parameter_list(28, None).into());
        }
        let existing = self
            .pr
            .registrations
            .iter()
            .position(|r| r.is_some_and(|r| r.initiator_port == dest));
        let to = match existing {
            Some(i) => i,
            None => {
                let i = self
                    .pr
                    .registrations
                    .iter()
                    .position(Option::is_none)
                    .ok_or(Sense::illegal_request(
                        AdditionalSense::INSUFFICIENT_REGISTRATION_RESOURCES,
                    ))?;
                if let Some(slot) = self.pr.registrations.get_mut(i) {
                    *slot = Some(Registration {
                        key: sark,
                        initiator_port: dest,
                        relative_port_id: rel_port,
                    });
                }
                i
            }
        };
        self.pr.reservation = Some(PrReservation {
            kind: res.kind,
            holder: Some(to),
        });
        if flags & 0x02 != 0 {
            if let Some(r) = self.pr.registrations.get_mut(me) {
                *r = None;
            }
        }
        self.pr.aptpl = flags & 0x01 != 0;
        self.pr.generation = self.pr.generation.wrapping_add(1);
        Ok(())
    }

    fn is_holder(&self, i: usize) -> bool {
        self.pr.reservation.is_some_and(|r| match r.holder {
            None => true,
            Some(h) => h == i,
        })
    }

    /// Raises `u` on every nexus of registration `i` (or of every registration but `except`).
    fn notify<const M: usize>(&self, i: usize, u: UnitAttention, ua: &mut UnitAttentions<M>) {
        if let Some(Some(r)) = self.pr.registrations.get(i) {
            for n in self.nexuses_of(&r.initiator_port) {
                ua.raise(n, u);
            }
        }
    }

    fn unregister<const M: usize>(&mut self, i: usize, ua: &mut UnitAttentions<M>) {
        if let Some(res) = self.pr.reservation {
            let last = self.pr.registrations.iter().filter(|r| r.is_some()).count() <= 1;
            let drops = match res.holder {
                Some(h) => h == i,
                None => last,
            };
            if drops {
                self.pr.reservation = None;
                if matches!(res.kind.0, 5 | 6) {
                    // Registrants-only: the others learn the reservation is gone.
                    for j in 0..N {
                        if j != i {
                            self.notify(j, UnitAttention::ReservationsReleased, ua);
                        }
                    }
                }
            }
        }
        if let Some(r) = self.pr.registrations.get_mut(i) {
            *r = None;
        }
    }

    fn reserve(&mut self, me: usize, kind: PrType) -> Result<(), PrError> {
        match self.pr.reservation {
            None => {
                self.pr.reservation = Some(PrReservation {
                    kind,
                    holder: (!kind.all_registrants()).then_some(me),
                });
                Ok(())
            }
            Some(r) if self.is_holder(me) && r.kind == kind => Ok(()),
            Some(_) => Err(PrError::Conflict),
        }
    }

    fn release<const M: usize>(
        &mut self,
        me: usize,
        kind: PrType,
        ua: &mut UnitAttentions<M>,
    ) -> Result<(), PrError> {
        let Some(r) = self.pr.reservation else {
            return Ok(());
        };
        if !self.is_holder(me) {
            return Ok(());
        }
        if r.kind != kind {
            return Err(Sense::illegal_request(
                AdditionalSense::INVALID_RELEASE_OF_PERSISTENT_RESERVATION,
            )
            .into());
        }
        self.pr.reservation = None;
        if r.kind.registrants_access() {
            for j in 0..N {
                if j != me {
                    self.notify(j, UnitAttention::ReservationsReleased, ua);
                }
            }
        }
        Ok(())
    }

    fn clear<const M: usize>(&mut self, me: usize, ua: &mut UnitAttentions<M>) {
        for j in 0..N {
            if j != me {
                self.notify(j, UnitAttention::ReservationsPreempted, ua);
            }
        }
        self.pr.registrations = [None; N];
        self.pr.reservation = None;
        self.pr.generation = self.pr.generation.wrapping_add(1);
    }

    /// PREEMPT / PREEMPT AND ABORT (SPC-4 §5.13.11). Aborting the preempted nexuses' tasks
    /// is the session's job.
    fn preempt<const M: usize>(
        &mut self,
        me: usize,
        kind: PrType,
        sark: u64,
        ua: &mut UnitAttentions<M>,
    ) -> Result<(), PrError> {
        let res = self.pr.reservation;
        let all_reg = res.is_some_and(|r| r.kind.all_registrants());
        let holder_key = res.and_then(|r| r.holder).map(|h| self.key_of(h));
        let takes_reservation = match res {
            Some(_) if all_reg => sark == 0,
            Some(_) => holder_key == Some(sark),
            None => false,
        };
        if sark == 0 && !takes_reservation {
            return Err(Sense::invalid_field_in_parameter_list(8, None).into());
        }
        // Registrations to remove: matching SARK, or with all-registrants and SARK 0 every
        // other registration.
        let mut removed = 0usize;
        for j in 0..N {
            let key = match self.pr.registrations.get(j) {
                Some(Some(r)) => r.key,
                _ => continue,
            };
            let hit = if all_reg && sark == 0 {
                j != me
            } else {
                key == sark && j != me
            };
            if hit {
                self.notify(j, UnitAttention::RegistrationsPreempted, ua);
                if let Some(r) = self.pr.registrations.get_mut(j) {
                    *r = None;
                }
                removed = removed.saturating_add(1);
            }
        }
        if takes_reservation {
            self.pr.reservation = Some(PrReservation {
                kind,
                holder: (!kind.all_registrants()).then_some(me),
            });
        } else if removed == 0 {
            return Err(PrError::Conflict);
        }
        self.pr.generation = self.pr.generation.wrapping_add(1);
        Ok(())
    }
}
