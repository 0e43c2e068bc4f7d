//! The daemon's shared state: targets with their logical units (each behind a `Mutex`), the
//! session registry, and the SCSI routing every connection uses — logical units by LUN, REPORT
//! LUNS and absent LUNs answered by the target (SPC-4 §6.33, §5.11.2), task management resets
//! (RFC 7143 §11.5.1), EXTENDED COPY between the logical units of a target (SPC-4 §6.4),
//! persistent reservations of file LUNs kept on disk, and background work (SANITIZE with
//! IMMED=1).

pub mod backend;
pub mod pr_store;
pub mod registry;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use iser_core::scsi::{
    self, AdditionalSense, BlockDevice, CommandRequest, Completion, CopyPeers, Finish, IoError,
    LogicalUnit, LuConfig, LuIdentity, NexusId, NoPeers, Opcode, ResetKind, ScsiTask, Sense, Start,
    Started, Ticket,
};
use iser_core::wire::{Lun, TaskMgmtFunction};

use crate::acl::AddressRange;
use crate::config::{self, Backing, Chap, Config, LunConfig};
use crate::storage::{Device, StorageError};
use registry::{Closer, OpenError, PeerGone, Registry, SessionKey, TargetIndex};

/// Nexus slots per logical unit (unit attentions are kept per I_T nexus).
pub const NEXUS_SLOTS: usize = config::MAX_SESSIONS as usize;

/// The logical unit type the daemon runs: its scratch buffer is on the heap.
pub type Lu = LogicalUnit<Device, NEXUS_SLOTS, Box<[u8]>>;

/// Blocks of scratch buffer per logical unit: the most one WRITE ATOMIC(16) may write (the
/// Block Limits VPD page's MAXIMUM ATOMIC TRANSFER LENGTH; libiscsi writes 256 at once), and
/// twice COMPARE AND WRITE's 255-block maximum.
pub const SCRATCH_BLOCKS: usize = 512;

/// One logical unit of a target.
#[derive(Debug)]
pub struct LunState {
    /// The LUN number.
    pub id: u16,
    /// Its 8-byte wire form.
    pub lun: Lun,
    /// The unit.
    pub lu: Mutex<Lu>,
    /// Its NAA designator, by which EXTENDED COPY names it.
    pub naa: [u8; 16],
    /// Where its persistent reservations are kept (file LUNs only).
    pub pr_path: Option<PathBuf>,
    /// Bytes per second its background SANITIZE may write (`None`: no limit).
    pub sanitize_rate: Option<u64>,
}

/// One target.
#[derive(Debug)]
pub struct TargetState {
    /// TargetName.
    pub name: String,
    /// TargetAlias.
    pub alias: Option<String>,
    /// Initiators allowed; empty = all.
    pub allowed_initiators: Vec<String>,
    /// Initiator addresses allowed; empty = all.
    pub allowed_addresses: Vec<AddressRange>,
    /// CHAP demanded of initiators.
    pub chap: Option<Chap>,
    /// Logical units by ascending LUN.
    pub luns: Vec<LunState>,
    /// The LUN inventory as REPORT LUNS lists it.
    pub lun_fields: Vec<u64>,
    /// Held by an EXTENDED COPY while it locks logical units besides its own, so two copies
    /// in opposite directions cannot deadlock (every other path locks one unit at a time).
    pub copy_lock: Mutex<()>,
}

/// Everything the connections share.
#[derive(Debug)]
pub struct Daemon {
    /// The configuration it was built from.
    pub config: Config,
    /// The targets; a target's index is its `TargetId`.
    pub targets: Vec<TargetState>,
    registry: Mutex<Registry>,
    shutdown: AtomicBool,
    epoch: std::time::Instant,
}

/// Locks `m`, carrying on with the data if another thread panicked while holding it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A stable 64-bit device identifier for a LUN: FNV-1a over the target name and LUN, so the
/// NAA designator and serial number survive restarts.
fn device_id(target: &str, lun: u16) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in target.bytes().chain(lun.to_be_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn build_lu(target: &config::Target, l: &LunConfig, group_tag: u16) -> Result<Lu, StorageError> {
    let dev = Device::open(l)?;
    let mut id = LuIdentity::new(device_id(&target.name, l.id));
    id.target_name = scsi::FixedStr::new(&target.name).unwrap_or_default();
    id.portal_group_tag = group_tag;
    let product = match l.backing {
        Backing::Ram { .. } => "iserd RAM disk",
        Backing::File { .. } => "iserd file disk",
    };
    if let Some(p) = scsi::space_padded::<16>(product) {
        id.product = p;
    }
    log::info!(
        "{} LUN {}: {} x {} bytes{}{} ({})",
        target.name,
        l.id,
        dev.num_blocks(),
        dev.block_size(),
        if l.read_only { ", read-only" } else { "" },
        if l.thin { ", thin" } else { "" },
        match &l.backing {
            Backing::Ram { .. } => "RAM".to_owned(),
            Backing::File { path, .. } => path.display().to_string(),
        }
    );
    let cfg = LuConfig {
        atomic_writes: true,
        removable: l.removable,
        ..LuConfig::default()
    };
    let scratch_len =
        SCRATCH_BLOCKS.saturating_mul(usize::try_from(dev.block_size()).unwrap_or(512));
    let scratch = vec![0u8; scratch_len].into_boxed_slice();
    let mut lu = LogicalUnit::with_scratch(dev, id, cfg, scratch);
    if let Some(path) = pr_path(l) {
        match pr_store::load::<NEXUS_SLOTS>(&path) {
            Ok(pr_store::Loaded::Missing) => {}
            Ok(pr_store::Loaded::Restore(state)) => {
                log::info!(
                    "{} LUN {}: restored {} persistent reservation registration(s){} from {}",
                    target.name,
                    l.id,
                    state.registrations.iter().flatten().count(),
                    if state.reservation.is_some() {
                        " and the reservation"
                    } else {
                        ""
                    },
                    path.display()
                );
                lu.restore_persistent_reservations(*state);
            }
            Ok(pr_store::Loaded::NotPersistent) => log::info!(
                "{} LUN {}: persistent reservations in {} were made without APTPL; not restored",
                target.name,
                l.id,
                path.display()
            ),
            Err(e) => log::warn!(
                "{} LUN {}: cannot read persistent reservations from {}: {e}",
                target.name,
                l.id,
                path.display()
            ),
        }
    }
    Ok(lu)
}

/// The persistent reservation sidecar of a file LUN.
fn pr_path(l: &LunConfig) -> Option<PathBuf> {
    match &l.backing {
        Backing::File { path, .. } => Some(pr_store::sidecar_path(path)),
        Backing::Ram { .. } => None,
    }
}

/// The initiator port name of an I_T nexus (RFC 7143 §4.4.1 / SPC-4 TransportID format 01b):
/// `<InitiatorName>,i,0x<ISID in 12 hex digits>`.
pub fn initiator_port_name(initiator: &str, isid: [u8; 6]) -> String {
    let mut s = format!("{initiator},i,0x");
    for b in isid {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The other logical units of a target as EXTENDED COPY sees them: found by NAA designator,
/// locked for one read or write at a time.
struct TargetPeers<'a> {
    luns: &'a [LunState],
    /// The logical unit running the copy (already locked by the caller).
    me: usize,
}

impl TargetPeers<'_> {
    fn peer(&self, i: u16) -> Option<&LunState> {
        let i = usize::from(i);
        if i == self.me {
            return None;
        }
        self.luns.get(i)
    }
}

impl CopyPeers for TargetPeers<'_> {
    fn resolve(&mut self, designation: &[u8]) -> Option<u16> {
        // Binary code set, NAA designator type, 16 bytes (SPC-4 §7.8.6.6).
        let naa = designation.get(4..20)?;
        if designation.get(1).map(|b| b & 0x0f) != Some(3) || designation.get(3) != Some(&16) {
            return None;
        }
        let i = self
            .luns
            .iter()
            .enumerate()
            .position(|(i, l)| i != self.me && l.naa[..] == *naa)?;
        u16::try_from(i).ok()
    }

    fn block_size(&mut self, peer: u16) -> u32 {
        self.peer(peer)
            .map_or(0, |l| lock(&l.lu).device().block_size())
    }

    fn num_blocks(&mut self, peer: u16) -> u64 {
        self.peer(peer)
            .map_or(0, |l| lock(&l.lu).device().num_blocks())
    }

    fn read_at(&mut self, peer: u16, byte_offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let l = self.peer(peer).ok_or(IoError::Other)?;
        lock(&l.lu).peer_read(byte_offset, buf)
    }

    fn write_at(&mut self, peer: u16, byte_offset: u64, data: &[u8]) -> Result<(), IoError> {
        let l = self.peer(peer).ok_or(IoError::Other)?;
        lock(&l.lu).peer_write(byte_offset, data)
    }
}

fn not_supported() -> Completion {
    Completion::check(Sense::illegal_request(
        AdditionalSense::LOGICAL_UNIT_NOT_SUPPORTED,
    ))
}

impl Daemon {
    /// Opens every LUN's storage and builds the targets.
    pub fn new(config: Config) -> Result<Daemon, StorageError> {
        let group_tag = config.portals.first().map_or(1, |p| p.group_tag);
        let mut targets = Vec::new();
        for t in &config.targets {
            let mut luns = Vec::new();
            for l in &t.luns {
                let Some(lun) = Lun::from_index(l.id) else {
                    continue; // config validation keeps ids <= MAX_LUN
                };
                let lu = build_lu(t, l, group_tag)?;
                luns.push(LunState {
                    id: l.id,
                    lun,
                    naa: lu.identity().naa6(),
                    pr_path: pr_path(l),
                    sanitize_rate: l.sanitize_rate,
                    lu: Mutex::new(lu),
                });
            }
            let lun_fields = luns.iter().map(|l| l.lun.0).collect();
            targets.push(TargetState {
                name: t.name.clone(),
                alias: t.alias.clone(),
                allowed_initiators: t.allowed_initiators.clone(),
                allowed_addresses: t.allowed_addresses.clone(),
                chap: t.chap.clone(),
                luns,
                lun_fields,
                copy_lock: Mutex::new(()),
            });
        }
        let max = usize::try_from(config.limits.max_sessions).unwrap_or(NEXUS_SLOTS);
        Ok(Daemon {
            registry: Mutex::new(Registry::new(max.min(NEXUS_SLOTS), NEXUS_SLOTS)),
            config,
            targets,
            shutdown: AtomicBool::new(false),
            epoch: std::time::Instant::now(),
        })
    }

    /// Microseconds since the daemon started, as the core counts time.
    pub fn now(&self) -> iser_core::time::Instant {
        let us = self.epoch.elapsed().as_micros();
        iser_core::time::Instant(u64::try_from(us).unwrap_or(u64::MAX))
    }

    /// The core's instant as a `std` one.
    pub fn to_std(&self, t: iser_core::time::Instant) -> std::time::Instant {
        self.epoch + std::time::Duration::from_micros(t.0)
    }

    /// Asks every part of the daemon to stop.
    pub fn begin_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        lock(&self.registry).close_all();
    }

    /// True once shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// The target called `name`.
    pub fn target_index(&self, name: &str) -> Option<TargetIndex> {
        let i = self.targets.iter().position(|t| t.name == name)?;
        u16::try_from(i).ok()
    }

    /// The target at `index`.
    pub fn target(&self, index: TargetIndex) -> Option<&TargetState> {
        self.targets.get(usize::from(index))
    }

    /// Whether `initiator`, connecting from `peer`, may log in to and discover target `t`:
    /// both its name and its address lists must admit it (names compare without regard to
    /// case, RFC 7143 §4.2.7.2 normalises them to lower case).
    pub fn may_access(&self, t: TargetIndex, initiator: &str, peer: IpAddr) -> bool {
        self.target(t).is_some_and(|t| {
            let name_ok = t.allowed_initiators.is_empty()
                || t.allowed_initiators
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(initiator));
            let address_ok = t.allowed_addresses.is_empty()
                || t.allowed_addresses.iter().any(|r| r.contains(peer));
            name_ok && address_ok
        })
    }

    fn lun_state(&self, t: TargetIndex, lun: Lun) -> Option<&LunState> {
        self.target(t)?.luns.iter().find(|l| l.lun == lun)
    }

    fn lun_fields(&self, t: TargetIndex) -> &[u64] {
        self.target(t).map_or(&[], |t| t.lun_fields.as_slice())
    }

    /// Begins a SCSI command.
    pub fn scsi_start(&self, t: TargetIndex, lun: Lun, req: &CommandRequest<'_>) -> Start {
        let mut slot = None;
        self.scsi_start_in(t, lun, req, &mut slot).with_task(slot)
    }

    /// Begins a SCSI command, its task written straight into `slot` (the session's task table
    /// entry; see `LogicalUnit::start_in`).
    pub fn scsi_start_in(
        &self,
        t: TargetIndex,
        lun: Lun,
        req: &CommandRequest<'_>,
        slot: &mut Option<ScsiTask>,
    ) -> Started {
        match self.lun_state(t, lun) {
            Some(l) if !scsi::target::is_target_command(req.cdb) => lock(&l.lu).start_in(req, slot),
            _ => scsi::target::start(req, self.lun_fields(t)).place(slot),
        }
    }

    /// Produces Data-In of a started command.
    pub fn scsi_read(
        &self,
        t: TargetIndex,
        lun: Lun,
        task: &ScsiTask,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<usize, Completion> {
        match self.lun_state(t, lun) {
            Some(l) if !task.is_target_task() => lock(&l.lu).read_data(task, offset, buf),
            _ => scsi::target::read_data(task, self.lun_fields(t), offset, buf),
        }
    }

    /// Consumes Data-Out of a started command.
    pub fn scsi_write(
        &self,
        t: TargetIndex,
        lun: Lun,
        task: &mut ScsiTask,
        offset: u32,
        data: &[u8],
    ) -> Result<(), Completion> {
        match self.lun_state(t, lun) {
            Some(l) => lock(&l.lu).write_data(task, offset, data),
            None => Err(not_supported()),
        }
    }

    /// Ends a command's data phase. EXTENDED COPY reaches the target's other logical units;
    /// a PERSISTENT RESERVE OUT that changed a file LUN's reservations is saved to disk
    /// before its status goes out; a SANITIZE with IMMED=0 is left to
    /// [`run_background`](Self::run_background) and its status deferred.
    pub fn scsi_finish(&self, t: TargetIndex, lun: Lun, task: &ScsiTask) -> Finish {
        let (Some(target), Some(l)) = (self.target(t), self.lun_state(t, lun)) else {
            return scsi::target::finish(task).into();
        };
        if task.is_target_task() {
            return scsi::target::finish(task).into();
        }
        let op = task.opcode();
        if op == Opcode::EXTENDED_COPY {
            let _copy = lock(&target.copy_lock);
            let me = target
                .luns
                .iter()
                .position(|x| x.lun == lun)
                .unwrap_or(usize::MAX);
            let mut peers = TargetPeers {
                luns: &target.luns,
                me,
            };
            return lock(&l.lu).finish_with_peers(task, &mut peers).into();
        }
        if op == Opcode::PERSISTENT_RESERVE_OUT {
            if let Some(path) = &l.pr_path {
                let mut lu = lock(&l.lu);
                let before = Box::new(*lu.persistent_reservations());
                let c = lu.finish(task);
                let after = lu.persistent_reservations();
                if *after != *before {
                    if let Err(e) = pr_store::save(path, after) {
                        log::error!(
                            "cannot save persistent reservations to {}: {e}",
                            path.display()
                        );
                    }
                }
                return c.into();
            }
        }
        lock(&l.lu).finish_or_defer(task, &mut NoPeers)
    }

    /// The status of a task whose [`scsi_finish`](Self::scsi_finish) was deferred, once its
    /// background work ended.
    pub fn scsi_poll(
        &self,
        t: TargetIndex,
        lun: Lun,
        task: &ScsiTask,
        ticket: Ticket,
    ) -> Option<Completion> {
        match self.lun_state(t, lun) {
            Some(l) => lock(&l.lu).deferred_status(task, ticket),
            // The LUN went away (not possible today: LUNs are fixed at start).
            None => Some(Completion::check(Sense::illegal_request(
                AdditionalSense::LOGICAL_UNIT_NOT_SUPPORTED,
            ))),
        }
    }

    /// Releases what a task that will not be finished holds in its logical unit.
    pub fn scsi_abort(&self, t: TargetIndex, lun: Lun, task: &ScsiTask) {
        if let Some(l) = self.lun_state(t, lun) {
            if !task.is_target_task() {
                lock(&l.lu).abort(task);
            }
        }
    }

    /// Task management that reaches logical units: LOGICAL UNIT RESET resets one, TARGET
    /// WARM/COLD RESET all of the target's. Returns false when a LUN-scoped function names a
    /// LUN that does not exist.
    pub fn task_management(&self, t: TargetIndex, lun: Lun, function: u8) -> bool {
        let f = TaskMgmtFunction::from(function);
        let all = |kind: ResetKind| {
            for l in self.target(t).map_or(&[][..], |t| t.luns.as_slice()) {
                lock(&l.lu).reset(kind);
            }
            true
        };
        if f == TaskMgmtFunction::TARGET_WARM_RESET {
            return all(ResetKind::TargetWarmReset);
        }
        if f == TaskMgmtFunction::TARGET_COLD_RESET {
            return all(ResetKind::TargetColdReset);
        }
        let Some(l) = self.lun_state(t, lun) else {
            return false;
        };
        if f == TaskMgmtFunction::LOGICAL_UNIT_RESET {
            lock(&l.lu).reset(ResetKind::LogicalUnitReset);
        }
        true
    }

    /// Opens a session (closing a session it reinstates) and logs it.
    pub fn open_session(&self, key: SessionKey, closer: Option<Closer>) -> Result<u16, OpenError> {
        let mut reg = lock(&self.registry);
        let what = self.describe(&key);
        let departed = match key.target {
            Some(t) => reg.close_departed(&key.initiator, t),
            None => Vec::new(),
        };
        for (tsih, old, nexus) in departed {
            log::info!(
                "session {tsih:#06x} ended: its peer closed the connection ({})",
                self.describe(&old)
            );
            self.nexus_lost(old.target, nexus);
        }
        match reg.open(key.clone(), closer) {
            Ok((tsih, reinstated)) => {
                drop(reg);
                if let Some(old) = reinstated {
                    log::info!(
                        "session {:#06x} reinstated by a new login: {what}",
                        old.tsih
                    );
                    self.nexus_lost(key.target, old.nexus);
                }
                log::info!("login: {what}, tsih {tsih:#06x}");
                Ok(tsih)
            }
            Err(e) => {
                log::warn!("login refused ({e:?}): {what}");
                Err(e)
            }
        }
    }

    /// Lets a later login of the same initiator end session `tsih` at once when `peer_gone`
    /// says its peer has closed the connection.
    pub fn watch_peer(&self, tsih: u16, peer_gone: PeerGone) {
        lock(&self.registry).watch(tsih, peer_gone);
    }

    /// Ends session `tsih` and logs it.
    pub fn close_session(&self, tsih: u16) {
        let closed = lock(&self.registry).close(tsih);
        if let Some((key, nexus)) = closed {
            log::info!("logout: {}, tsih {tsih:#06x}", self.describe(&key));
            self.nexus_lost(key.target, nexus);
        }
    }

    /// Sessions open now.
    pub fn session_count(&self) -> usize {
        lock(&self.registry).len()
    }

    /// The nexus index for an initiator port and target; the target's logical units learn
    /// the initiator port's name for it (persistent reservations are kept by port name).
    pub fn nexus(&self, initiator: &str, isid: [u8; 6], t: TargetIndex) -> u16 {
        let n = lock(&self.registry).nexus(initiator, isid, t);
        let n = n.unwrap_or_else(|| {
            log::warn!("no free I_T nexus slot for {initiator}; sharing slot 0");
            0
        });
        let port = initiator_port_name(initiator, isid);
        for l in self.target(t).map_or(&[][..], |t| t.luns.as_slice()) {
            if !lock(&l.lu).set_initiator_port(NexusId(n), &port) {
                log::warn!("initiator port name {port:?} not usable for reservations");
            }
        }
        n
    }

    /// Runs background work (SANITIZE) of every logical unit until shutdown: up to 1 MiB at
    /// a time per unit, releasing its lock in between so commands are answered (NOT READY,
    /// SANITIZE IN PROGRESS) while it runs, and no faster than the unit's `sanitize_rate`.
    pub fn run_background(&self) {
        const STEP: u64 = 1 << 20;
        const IDLE: Duration = Duration::from_millis(20);
        // Per unit (targets, then LUNs, in order): when it may write its next step.
        let mut due: Vec<Option<Instant>> = Vec::new();
        while !self.is_shutting_down() {
            let now = Instant::now();
            let mut busy = false;
            let mut next_due: Option<Instant> = None;
            let units = self.targets.iter().flat_map(|t| t.luns.iter());
            for (i, l) in units.enumerate() {
                if due.len() <= i {
                    due.resize(i + 1, None);
                }
                let slot = &mut due[i];
                if let Some(d) = slot.filter(|d| *d > now) {
                    next_due = Some(next_due.map_or(d, |n| n.min(d)));
                    continue;
                }
                let mut lu = lock(&l.lu);
                if !lu.background_pending() {
                    *slot = None;
                    continue;
                }
                // Always whole steps: a thin RAM disk only unmaps whole chunks of a discard.
                let more = lu.run_background(STEP);
                drop(lu);
                *slot = match l.sanitize_rate {
                    Some(rate) if more => {
                        let d = now + Duration::from_secs_f64(STEP as f64 / rate as f64);
                        next_due = Some(next_due.map_or(d, |n| n.min(d)));
                        Some(d)
                    }
                    _ => None,
                };
                busy |= more && l.sanitize_rate.is_none();
            }
            if !busy {
                let wait = next_due.map_or(IDLE, |d| d.saturating_duration_since(now).min(IDLE));
                std::thread::sleep(wait);
            }
        }
    }

    fn nexus_lost(&self, t: Option<TargetIndex>, nexus: Option<u16>) {
        let (Some(t), Some(n)) = (t, nexus) else {
            return;
        };
        for l in self.target(t).map_or(&[][..], |t| t.luns.as_slice()) {
            lock(&l.lu).nexus_lost(NexusId(n));
        }
    }

    fn describe(&self, key: &SessionKey) -> String {
        let target = key
            .target
            .and_then(|t| self.target(t))
            .map_or("discovery", |t| t.name.as_str());
        format!("{key} -> {target}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iser_core::scsi::Status;

    fn daemon() -> Daemon {
        let mut c = Config::builtin();
        c.targets[0].luns = vec![LunConfig::ram(0, 1 << 20), LunConfig::ram(3, 1 << 20)];
        c.targets[0].allowed_initiators = vec!["iqn.2026-11.rs.iserd:init".into()];
        Daemon::new(c).unwrap()
    }

    fn req(cdb: &[u8], read: u32, write: u32) -> CommandRequest<'_> {
        CommandRequest {
            cdb,
            expected_read_len: read,
            expected_write_len: write,
            nexus: NexusId(0),
        }
    }

    fn run_read(d: &Daemon, lun: Lun, cdb: &[u8], len: u32) -> Result<Vec<u8>, Completion> {
        match d.scsi_start(0, lun, &req(cdb, len, 0)) {
            Start::Done(c) => Err(c),
            Start::DataIn { task, len } => {
                let mut buf = vec![0u8; len as usize];
                let n = d.scsi_read(0, lun, &task, 0, &mut buf)?;
                buf.truncate(n);
                let c = d.scsi_finish(0, lun, &task);
                assert!(matches!(c, Finish::Done(c) if c.is_good()), "{c:?}");
                Ok(buf)
            }
            s => panic!("{s:?}"),
        }
    }

    #[test]
    fn acl_and_lookup() {
        let d = daemon();
        assert_eq!(d.target_index(config::DEFAULT_TARGET_NAME), Some(0));
        assert_eq!(d.target_index("iqn.2026-11.rs.iserd:nope"), None);
        let lo = IpAddr::from([127, 0, 0, 1]);
        assert!(d.may_access(0, "IQN.2026-11.rs.iserd:init", lo));
        assert!(!d.may_access(0, "iqn.2026-11.rs.iserd:other", lo));
        assert!(!d.may_access(7, "iqn.2026-11.rs.iserd:init", lo));
    }

    #[test]
    fn acl_by_address_and_name_together() {
        let mut c = Config::builtin();
        c.targets[0].allowed_addresses =
            vec!["10.0.0.0/8".parse().unwrap(), "fd00::/16".parse().unwrap()];
        let d = Daemon::new(c.clone()).unwrap();
        let any = "iqn.2026-11.rs.iserd:any";
        assert!(d.may_access(0, any, IpAddr::from([10, 9, 8, 7])));
        assert!(d.may_access(0, any, "fd00:1::2".parse().unwrap()));
        assert!(d.may_access(0, any, "::ffff:10.1.1.1".parse().unwrap()));
        assert!(!d.may_access(0, any, IpAddr::from([127, 0, 0, 1])));
        assert!(!d.may_access(0, any, "::1".parse().unwrap()));
        c.targets[0].allowed_initiators = vec!["iqn.2026-11.rs.iserd:init".into()];
        let d = Daemon::new(c).unwrap();
        assert!(!d.may_access(0, any, IpAddr::from([10, 9, 8, 7])));
        assert!(d.may_access(0, "iqn.2026-11.rs.iserd:init", IpAddr::from([10, 9, 8, 7])));
        assert!(!d.may_access(0, "iqn.2026-11.rs.iserd:init", IpAddr::from([11, 0, 0, 1])));
    }

    #[test]
    fn report_luns_from_any_lun() {
        let d = daemon();
        let cdb = [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
        for lun in [Lun::from_index(0).unwrap(), Lun::from_index(9).unwrap()] {
            let data = run_read(&d, lun, &cdb, 256).unwrap();
            assert_eq!(&data[..4], &16u32.to_be_bytes(), "two LUNs listed");
            assert_eq!(&data[8..16], &Lun::from_index(0).unwrap().to_bytes());
            assert_eq!(&data[16..24], &Lun::from_index(3).unwrap().to_bytes());
        }
    }

    #[test]
    fn absent_lun_is_not_supported_and_inquiry_says_so() {
        let d = daemon();
        let absent = Lun::from_index(1).unwrap();
        let tur = [0u8; 6];
        let c = match d.scsi_start(0, absent, &req(&tur, 0, 0)) {
            Start::Done(c) => c,
            s => panic!("{s:?}"),
        };
        assert_eq!(c.status, Status::CHECK_CONDITION);
        let inq = run_read(&d, absent, &[0x12, 0, 0, 0, 36, 0], 36).unwrap();
        assert_eq!(inq[0], 0x7f);
    }

    #[test]
    fn write_then_read_through_the_lu() {
        let d = daemon();
        let lun = Lun::from_index(3).unwrap();
        // WRITE(10) LBA 1, 1 block.
        let w = [0x2a, 0, 0, 0, 0, 1, 0, 0, 1, 0];
        // The first command sees the POWER ON unit attention.
        let ua = d.scsi_start(0, lun, &req(&[0u8; 6], 0, 0));
        assert!(matches!(ua, Start::Done(c) if c.status == Status::CHECK_CONDITION));
        let Start::DataOut { mut task, len } = d.scsi_start(0, lun, &req(&w, 0, 512)) else {
            panic!("no data out");
        };
        assert_eq!(len, 512);
        d.scsi_write(0, lun, &mut task, 0, &[0x5a; 512]).unwrap();
        assert!(matches!(d.scsi_finish(0, lun, &task), Finish::Done(c) if c.is_good()));
        let r = [0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0];
        assert_eq!(run_read(&d, lun, &r, 512).unwrap(), vec![0x5a; 512]);
    }

    #[test]
    fn task_management_resets() {
        let d = daemon();
        assert!(d.task_management(0, Lun::from_index(0).unwrap(), 5));
        assert!(!d.task_management(0, Lun::from_index(1).unwrap(), 5));
        assert!(d.task_management(0, Lun::from_index(1).unwrap(), 6));
    }

    #[test]
    fn sessions_log_in_and_out() {
        let d = daemon();
        let key = SessionKey {
            initiator: "iqn.2026-11.rs.iserd:init".into(),
            isid: [1; 6],
            target: Some(0),
        };
        let a = d.open_session(key.clone(), None).unwrap();
        let n = d.nexus(&key.initiator, key.isid, 0);
        assert_eq!(d.session_count(), 1);
        let b = d.open_session(key, None).unwrap();
        assert_ne!(a, b);
        assert_eq!(d.session_count(), 1);
        assert_eq!(d.nexus("iqn.2026-11.rs.iserd:init", [1; 6], 0), n);
        d.close_session(b);
        assert_eq!(d.session_count(), 0);
    }

    #[test]
    fn device_ids_are_stable_and_distinct() {
        assert_eq!(device_id("a", 0), device_id("a", 0));
        assert_ne!(device_id("a", 0), device_id("a", 1));
        assert_ne!(device_id("a", 0), device_id("b", 0));
    }
}
