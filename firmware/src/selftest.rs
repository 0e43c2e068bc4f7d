//! The image's self-test: our iSER initiator engine and our iSER target engine meet over the
//! NIC-queue [`Link`], one session per configured target: login with full negotiation and
//! RDMAExtensions=Yes (RFC 7145 §6), the optional iSER Hello exchange (§9.3–9.4), REPORT LUNS
//! (SPC-4 §6.33) listing exactly the target's LUNs, TEST UNIT READY on each LUN (clears its
//! power-on unit attention), WRITE(16)/READ(16) pairs of generated sizes on every LUN with
//! every byte checked on the way back and at rest in that LUN, then Logout (RFC 7143 §11.14)
//! with every buffer and STag returned.

use iser_core::conn::StageKind;
use iser_core::dm::iser::{IserConfig, IserInitiator, IserTarget};
use iser_core::dm::{BufRef, DmOp};
use iser_core::scsi::BlockDevice;
use iser_core::session::initiator::{InitiatorEvent, InitiatorSink, ScsiRequest, TaskHandle};
use iser_core::session::{InitiatorConfig, TargetConfig, TargetId};
use iser_core::time::Instant;
use iser_core::wire::{CmPrivateData, Lun};
use static_cell::StaticCell;

use crate::backend::FwTarget;
use crate::config::{Capacity, FwConfig};
use crate::nic::{Counters, Link};

/// Commands in flight per connection.
pub const TASKS: usize = 8;
/// Registered buffers per connection.
pub const BUFS: usize = 16;
/// Largest configurable buffer size.
pub const MAX_BUF_SIZE: u32 = 16 * 1024 + 512;
/// Submission/receive ring entries per endpoint.
pub const RING: usize = 32;
/// Completion ring entries per endpoint (`2 * RING + 1`: a flush always fits).
pub const CQ: usize = 2 * RING + 1;
/// Registrations per endpoint (one per command in flight).
pub const MRS: usize = TASKS;
/// Targets served.
pub const TARGETS: usize = 2;
/// RAM logical units, all targets together.
pub const LUS: usize = 4;
/// Bytes of static LU memory, all logical units together.
pub const LU_BYTES: usize = 2 << 20;
/// Bytes of the initiator's data area (after its control buffers).
pub const DATA_BYTES: usize = 128 * 1024;
/// Bytes of the target's registered region.
pub const TARGET_REGION: usize = BUFS * MAX_BUF_SIZE as usize;
/// Bytes of the initiator's registered region.
pub const INITIATOR_REGION: usize = BUFS * MAX_BUF_SIZE as usize + DATA_BYTES;

/// What the image reserved, for [`FwConfig::validate`].
pub const CAPACITY: Capacity = Capacity {
    targets: TARGETS,
    lus: LUS,
    lu_bytes: LU_BYTES,
    max_buf_size: MAX_BUF_SIZE,
    bufs: BUFS,
    data_bytes: DATA_BYTES,
    tasks: TASKS,
};

/// The target engine as the image sizes it.
pub type Target = IserTarget<TASKS, BUFS>;
/// The initiator engine as the image sizes it.
pub type Initiator = IserInitiator<'static, TASKS, BUFS>;
/// The backend (targets and their logical units) as the image sizes it.
pub type Backend = FwTarget<TARGETS, LUS>;
/// The NIC link as the image sizes it.
pub type FwLink<'r> = Link<'r, RING, CQ, MRS>;

/// Static RAM of the image's pieces, in bytes, as compiled for the running target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Footprint {
    /// The target engine (`IserTarget<TASKS, BUFS>`: session, task table, buffer pool state).
    pub target_engine: usize,
    /// The initiator engine.
    pub initiator_engine: usize,
    /// One NIC endpoint (rings and registration table).
    pub nic_endpoint: usize,
    /// One target connection: engine, NIC endpoint and registered region.
    pub target_connection: usize,
    /// What one more task slot adds to a target connection.
    pub target_per_task: usize,
    /// What one more task slot adds to an initiator connection.
    pub initiator_per_task: usize,
    /// What one more registered buffer adds to a target connection (bookkeeping + memory).
    pub target_per_buffer: usize,
    /// The backend's state: `TARGETS` targets, `LUS` RAM LUs (without their memory).
    pub backend: usize,
    /// What one more RAM LU adds to the backend (without its memory).
    pub backend_per_lu: usize,
}

impl Footprint {
    /// Measured with `size_of` for the target being compiled.
    pub const fn measure() -> Footprint {
        use core::mem::size_of;
        type Ep = crate::nic::Endpoint<'static, RING, CQ, MRS>;
        let target_engine = size_of::<Target>();
        Footprint {
            target_engine,
            initiator_engine: size_of::<Initiator>(),
            nic_endpoint: size_of::<Ep>(),
            target_connection: target_engine
                .saturating_add(size_of::<Ep>())
                .saturating_add(TARGET_REGION),
            target_per_task: size_of::<IserTarget<{ TASKS + 1 }, BUFS>>()
                .saturating_sub(target_engine),
            initiator_per_task: size_of::<IserInitiator<'static, { TASKS + 1 }, BUFS>>()
                .saturating_sub(size_of::<Initiator>()),
            target_per_buffer: size_of::<IserTarget<TASKS, { BUFS + 1 }>>()
                .saturating_sub(target_engine)
                .saturating_add(MAX_BUF_SIZE as usize),
            backend: size_of::<Backend>(),
            backend_per_lu: size_of::<FwTarget<TARGETS, { LUS + 1 }>>()
                .saturating_sub(size_of::<Backend>()),
        }
    }
}

/// Everything static the self-test runs in; the image puts each piece in a `StaticCell`.
#[allow(missing_debug_implementations)] // StaticCell has no Debug
pub struct Statics {
    /// LU memory (`LU_BYTES`), carved into the configured LUs.
    pub lu: &'static mut [u8],
    /// The initiator's registered region (`INITIATOR_REGION`).
    pub initiator_region: &'static mut [u8],
    /// The target's registered region (`TARGET_REGION`).
    pub target_region: &'static mut [u8],
    /// Where the target engine goes.
    pub target: &'static StaticCell<Target>,
    /// Where the initiator engine goes.
    pub initiator: &'static StaticCell<Initiator>,
    /// Where the backend goes.
    pub backend: &'static StaticCell<Backend>,
}

/// Why the self-test failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Failure {
    /// The static resources were already taken or are too small.
    Resources,
    /// Login did not complete.
    Login,
    /// The iSER Hello exchange did not complete.
    Hello,
    /// A command could not be submitted.
    Submit,
    /// REPORT LUNS did not list exactly the target's LUNs.
    ReportLuns,
    /// A command ended without status or with an unexpected status.
    Command {
        /// Which command of the session (counted from 0: REPORT LUNS, TEST UNIT READYs,
        /// then writes and reads).
        index: u16,
        /// SCSI status, if any.
        status: Option<u8>,
    },
    /// Data read back differs from data written.
    Miscompare {
        /// First differing byte offset in the transfer.
        offset: u32,
    },
    /// Data at rest in the LU differs from data written.
    AtRest,
    /// Nothing moved while work was outstanding.
    Stalled,
    /// Logout did not return every buffer and STag.
    Teardown,
}

impl Failure {
    /// A short name for the text summary (the image prints no `Debug`).
    pub fn name(&self) -> &'static str {
        match self {
            Failure::Resources => "resources",
            Failure::Login => "login",
            Failure::Hello => "hello",
            Failure::Submit => "submit",
            Failure::ReportLuns => "report luns",
            Failure::Command { .. } => "command",
            Failure::Miscompare { .. } => "miscompare",
            Failure::AtRest => "data at rest",
            Failure::Stalled => "stalled",
            Failure::Teardown => "teardown",
        }
    }
}

/// What the self-test did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Summary {
    /// SCSI commands completed.
    pub commands: u32,
    /// Bytes written and read back, each verified.
    pub bytes_verified: u64,
    /// Whether the iSER Hello exchange ran.
    pub hello: bool,
    /// Sessions (one per target) that logged in, ran and logged out.
    pub logins: u16,
    /// Logical units written and read.
    pub luns: u16,
    /// Initiator NIC counters.
    pub initiator_nic: Counters,
    /// Target NIC counters.
    pub target_nic: Counters,
    /// Engine poll rounds.
    pub rounds: u32,
}

#[derive(Debug, Default)]
struct Events {
    logged_in: bool,
    login_failed: bool,
    closed: bool,
    unexpected_data: bool,
    done: Option<(TaskHandle, Option<u8>)>,
}

impl InitiatorSink for Events {
    fn read_data(&mut self, _: TaskHandle, _: u32, _: &[u8]) {
        // Under iSER read data arrives by RDMA Write, never in Data-In PDUs.
        self.unexpected_data = true;
    }

    fn event(&mut self, event: InitiatorEvent<'_>) {
        match event {
            InitiatorEvent::LoggedIn { .. } => self.logged_in = true,
            InitiatorEvent::LoginFailed(e) => {
                error!("initiator: login failed: {}", e);
                self.login_failed = true;
            }
            InitiatorEvent::TaskDone { task, result } => {
                self.done = Some((task, result.ok().map(|s| s.status.0)));
            }
            InitiatorEvent::Closed(_) | InitiatorEvent::LoggedOut { .. } => self.closed = true,
            _ => {}
        }
    }
}

/// Rounds without progress after which a wait gives up.
const MAX_IDLE_ROUNDS: u32 = 4;

struct World<'r> {
    link: FwLink<'r>,
    ini: &'r mut Initiator,
    tgt: &'r mut Target,
    backend: &'r mut Backend,
    events: Events,
    clock: fn() -> u64,
    data_at: u32,
    /// Ops the engines produced that a full ring refused; posted first next round.
    pending_ini: Option<DmOp>,
    pending_tgt: Option<DmOp>,
    rounds: u32,
}

impl World<'_> {
    fn now(&self) -> Instant {
        Instant((self.clock)())
    }

    /// Runs engines and NIC until nothing moves; true when anything did.
    fn pump(&mut self) -> bool {
        let mut any = false;
        loop {
            let now = self.now();
            self.rounds = self.rounds.saturating_add(1);
            let mut progress = false;
            // The target posts its receives before the initiator's first Send.
            loop {
                let op = match self.pending_tgt.take() {
                    Some(op) => Some(op),
                    None => self
                        .tgt
                        .poll_op(self.link.b.region_mut(), self.backend, now),
                };
                let Some(op) = op else { break };
                if self.link.b.post(op).is_err() {
                    self.pending_tgt = Some(op);
                    break;
                }
                progress = true;
            }
            self.link.b.ring_doorbell();
            loop {
                let op = match self.pending_ini.take() {
                    Some(op) => Some(op),
                    None => self.ini.poll_op(self.link.a.region_mut(), now),
                };
                let Some(op) = op else { break };
                if self.link.a.post(op).is_err() {
                    self.pending_ini = Some(op);
                    break;
                }
                progress = true;
            }
            self.link.a.ring_doorbell();
            if self.link.process() > 0 {
                progress = true;
            }
            while let Some(ev) = self.link.b.poll() {
                self.tgt
                    .handle_event(ev, self.link.b.region_mut(), self.backend, now);
                progress = true;
            }
            while let Some(ev) = self.link.a.poll() {
                let (region, mrs) = self.link.a.split();
                self.ini
                    .handle_event(ev, region, mrs, &mut self.events, now);
                progress = true;
            }
            if let Some(t) = self.ini.poll_timeout() {
                if t <= now {
                    let (_, mrs) = self.link.a.split();
                    self.ini.handle_timeout(now, mrs, &mut self.events);
                    progress = true;
                }
            }
            if !progress {
                return any;
            }
            any = true;
        }
    }

    /// Submits one command on `len` bytes of the data area and waits for its status.
    fn run(&mut self, index: u16, req: &ScsiRequest<'_>, len: u32) -> Result<u8, Failure> {
        let buf = BufRef {
            offset: self.data_at,
            len,
        };
        let task = match self.ini.submit(req, buf, &mut self.link.a.mrs) {
            Ok(t) => t,
            Err(e) => {
                error!("submit {=u16} refused: {}", index, e);
                return Err(Failure::Submit);
            }
        };
        let mut idle = 0u32;
        loop {
            if !self.pump() {
                idle = idle.saturating_add(1);
            }
            match self.events.done.take() {
                Some((t, status)) if t == task => {
                    return status.ok_or(Failure::Command {
                        index,
                        status: None,
                    })
                }
                Some(_) => {}
                None if idle > MAX_IDLE_ROUNDS || self.events.closed => {
                    error!(
                        "command {=u16}: no status, target {}",
                        index,
                        self.tgt.error()
                    );
                    return Err(Failure::Stalled);
                }
                None => {}
            }
        }
    }

    fn data(&mut self, len: usize) -> &mut [u8] {
        let at = self.data_at as usize;
        self.link
            .a
            .region_mut()
            .get_mut(at..at.saturating_add(len))
            .unwrap_or(&mut [])
    }
}

fn cdb16(op: u8, lba: u64, blocks: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = op;
    if let Some(f) = c.get_mut(2..10) {
        f.copy_from_slice(&lba.to_be_bytes());
    }
    if let Some(f) = c.get_mut(10..14) {
        f.copy_from_slice(&blocks.to_be_bytes());
    }
    c
}

/// xorshift64*: the workload's sizes, LBAs and data.
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    x.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn fill(buf: &mut [u8], seed: u64) {
    let mut s = seed | 1;
    for chunk in buf.chunks_mut(8) {
        let v = next(&mut s).to_le_bytes();
        for (d, s) in chunk.iter_mut().zip(v) {
            *d = s;
        }
    }
}

/// Runs the self-test in `statics` as `config` says, one session per target; `clock` gives
/// microseconds.
pub fn run(
    config: &FwConfig<'static>,
    statics: Statics,
    clock: fn() -> u64,
) -> Result<Summary, Failure> {
    let Statics {
        lu,
        initiator_region,
        target_region,
        target,
        initiator,
        backend,
    } = statics;
    let backend = backend
        .try_init(Backend::new(config, lu).ok_or(Failure::Resources)?)
        .ok_or(Failure::Resources)?;
    let m = &config.limits;
    let iser = IserConfig {
        buf_size: m.buf_size,
        recv_depth: m.recv_depth,
        max_rdma_reads: m.max_rdma_reads,
        send_window: m.send_window,
    };
    // zero-based addressing not supported (as every real initiator says); Send with
    // Invalidate allowed, so the target invalidates our STags with its SCSI Response.
    let cm = CmPrivateData {
        zbva_not_supported: true,
        send_inv_not_supported: false,
    };
    let tcfg = TargetConfig {
        max_recv_data_segment_length: m.max_recv_data_segment_length,
        max_burst_length: m.max_burst_length,
        first_burst_length: m.first_burst_length,
        queue_depth: m.queue_depth,
        immediate_data: m.immediate_data,
        initial_r2t: m.initial_r2t,
        ..TargetConfig::default()
    };
    let mut summary = Summary {
        hello: m.hello,
        ..Summary::default()
    };
    // The engines are placed once and rebuilt in place for each further session.
    let mut engines: Option<(&'static mut Target, &'static mut Initiator)> = None;
    for (index, t) in config.targets.iter().enumerate() {
        let t0 = Instant(clock());
        let mut entropy = [0u8; 32];
        fill(&mut entropy, config.workload.seed ^ index as u64);
        let target_entropy = entropy;
        let new_target = || IserTarget::new(&tcfg, iser, cm, target_entropy, t0);
        let mut icfg = InitiatorConfig::new(config.initiator_name, Some(t.name));
        icfg.max_recv_data_segment_length = m.max_recv_data_segment_length;
        icfg.max_burst_length = m.max_burst_length;
        icfg.first_burst_length = m.first_burst_length;
        icfg.immediate_data = m.immediate_data;
        icfg.initial_r2t = m.initial_r2t;
        entropy.reverse();
        let new_initiator = || IserInitiator::new(&icfg, iser, entropy, t0).with_hello(m.hello);
        let (tgt, ini) = match engines.take() {
            None => (
                target.try_init_with(new_target).ok_or(Failure::Resources)?,
                initiator
                    .try_init_with(new_initiator)
                    .ok_or(Failure::Resources)?,
            ),
            Some((tgt, ini)) => {
                *tgt = new_target();
                *ini = new_initiator();
                (tgt, ini)
            }
        };
        ini.connected(cm, t0);
        let data_at = ini.control_region_len();
        if tgt.region_len() > target_region.len()
            || data_at.saturating_add(DATA_BYTES) > initiator_region.len()
        {
            return Err(Failure::Resources);
        }
        let data_at = u32::try_from(data_at).map_err(|_| Failure::Resources)?;
        let mut w = World {
            link: Link::new(&mut *initiator_region, &mut *target_region),
            ini: &mut *ini,
            tgt: &mut *tgt,
            backend: &mut *backend,
            events: Events::default(),
            clock,
            data_at,
            pending_ini: None,
            pending_tgt: None,
            rounds: 0,
        };
        let id = TargetId(u16::try_from(index).map_err(|_| Failure::Resources)?);
        session(config, id, t, &mut w, &mut summary)?;
        summary.initiator_nic.add(&w.link.a.counters);
        summary.target_nic.add(&w.link.b.counters);
        summary.rounds = summary.rounds.saturating_add(w.rounds);
        summary.logins = summary.logins.saturating_add(1);
        engines = Some((tgt, ini));
    }
    Ok(summary)
}

/// One session with target `id` (`t` in the configuration): login, REPORT LUNS, TEST UNIT
/// READY and the write/read workload on each of its LUNs, logout.
fn session(
    config: &FwConfig<'static>,
    id: TargetId,
    t: &iser_core::config::TargetConfig<'static>,
    w: &mut World<'_>,
    summary: &mut Summary,
) -> Result<(), Failure> {
    let m = &config.limits;
    // Login (and the Hello exchange, when configured).
    for _ in 0..MAX_IDLE_ROUNDS {
        if !w.pump() || w.events.logged_in || w.events.login_failed {
            break;
        }
    }
    if !w.events.logged_in {
        return Err(Failure::Login);
    }
    let n = w.ini.session().negotiated();
    info!(
        "login to {=str}: RDMAExtensions={=bool} MaxRecvDataSegmentLength ini {=u32} tgt {=u32} MaxBurstLength {=u32} FirstBurstLength {=u32} ImmediateData {=bool} InitialR2T {=bool}",
        t.name,
        n.rdma_extensions,
        n.initiator_recv_data_segment_length,
        n.target_recv_data_segment_length,
        n.max_burst_length,
        n.first_burst_length,
        n.immediate_data,
        n.initial_r2t
    );
    if !n.rdma_extensions {
        return Err(Failure::Login);
    }
    if m.hello && (w.ini.stage() != Some(StageKind::LoggedIn) || w.ini.hello_error().is_some()) {
        return Err(Failure::Hello);
    }
    let mut index = 0u16;
    let mut next_index = || {
        index = index.saturating_add(1);
        index
    };

    // REPORT LUNS (to LUN 0, which need not exist): the target's LUNs, in order, nothing else.
    let lun_of = |id: u16| Lun(iser_core::scsi::target::lun_from_index(id));
    const REPORT_LEN: u32 = 8 + 8 * iser_core::config::MAX_LUNS as u32;
    let mut cdb = [0u8; 12];
    cdb[0] = 0xa0;
    if let Some(f) = cdb.get_mut(6..10) {
        f.copy_from_slice(&REPORT_LEN.to_be_bytes());
    }
    let status = w.run(
        next_index(),
        &ScsiRequest::read(lun_of(0), &cdb, REPORT_LEN),
        REPORT_LEN,
    )?;
    let listed = w.data(REPORT_LEN as usize);
    let list_len = (t.luns.len() as u32).saturating_mul(8);
    let header_ok = listed.get(..4) == Some(&list_len.to_be_bytes()[..]);
    let luns_ok = t
        .luns
        .iter()
        .zip(listed.get(8..).unwrap_or(&[]).chunks(8))
        .all(|(l, got)| got == lun_of(l.id).0.to_be_bytes());
    if status != 0 || !header_ok || !luns_ok {
        error!("{=str}: REPORT LUNS status {=u8}", t.name, status);
        return Err(Failure::ReportLuns);
    }
    summary.commands = summary.commands.saturating_add(1);

    // TEST UNIT READY on each LUN: CHECK CONDITION once (the power-on unit attention), then
    // GOOD.
    let tur = [0u8; 6];
    for l in t.luns.iter() {
        let i = next_index();
        let first = w.run(i, &ScsiRequest::no_data(lun_of(l.id), &tur), 0)?;
        let second = w.run(i, &ScsiRequest::no_data(lun_of(l.id), &tur), 0)?;
        if first != 2 || second != 0 {
            return Err(Failure::Command {
                index: i,
                status: Some(if first != 2 { first } else { second }),
            });
        }
        summary.commands = summary.commands.saturating_add(2);
    }

    // Write/read pairs, the LUNs taking turns.
    let mut rng = (config.workload.seed ^ u64::from(id.0)) | 1;
    let pairs = usize::from(config.workload.commands).saturating_mul(t.luns.len());
    for (l, _) in t.luns.iter().cycle().zip(0..pairs) {
        let i = next_index();
        let lun = lun_of(l.id);
        let block = l.block_size;
        let max_blocks = config
            .workload
            .max_blocks(block, l.blocks, config.lu.max_transfer_blocks)
            .max(1);
        let blocks = next(&mut rng)
            .checked_rem(u64::from(max_blocks))
            .unwrap_or(0)
            .saturating_add(1);
        let span = l.blocks.saturating_sub(blocks).saturating_add(1);
        let lba = next(&mut rng).checked_rem(span).unwrap_or(0);
        let bytes = blocks.saturating_mul(u64::from(block));
        let len = u32::try_from(bytes).map_err(|_| Failure::Resources)?;
        let blocks = u32::try_from(blocks).map_err(|_| Failure::Resources)?;
        let seed = next(&mut rng);
        fill(w.data(len as usize), seed);
        let c = cdb16(0x8a, lba, blocks);
        let status = w.run(i, &ScsiRequest::write(lun, &c, len), len)?;
        if status != 0 {
            return Err(Failure::Command {
                index: i,
                status: Some(status),
            });
        }
        w.data(len as usize).fill(0xee);
        let c = cdb16(0x88, lba, blocks);
        let status = w.run(i, &ScsiRequest::read(lun, &c, len), len)?;
        if status != 0 {
            return Err(Failure::Command {
                index: i,
                status: Some(status),
            });
        }
        verify(
            w,
            id,
            lun,
            lba.saturating_mul(u64::from(block)),
            len,
            seed,
            i,
        )?;
        if w.link.a.mrs.valid() != 0 {
            error!("command {=u16}: an STag outlived its command", i);
            return Err(Failure::Teardown);
        }
        summary.commands = summary.commands.saturating_add(2);
        summary.bytes_verified = summary
            .bytes_verified
            .saturating_add(bytes.saturating_mul(2));
    }
    summary.luns = summary
        .luns
        .saturating_add(u16::try_from(t.luns.len()).unwrap_or(u16::MAX));

    // Logout: every buffer and STag back on both sides.
    if w.ini.session_mut().logout().is_err() {
        return Err(Failure::Teardown);
    }
    for _ in 0..MAX_IDLE_ROUNDS {
        if !w.pump() {
            break;
        }
    }
    if !(w.events.closed && w.tgt.is_closed() && w.ini.is_closed() && w.link.a.mrs.valid() == 0) {
        error!(
            "teardown: closed {=bool} target {=bool} initiator {=bool}",
            w.events.closed,
            w.tgt.is_closed(),
            w.ini.is_closed()
        );
        return Err(Failure::Teardown);
    }
    if w.events.unexpected_data {
        return Err(Failure::Command {
            index: 0,
            status: None,
        });
    }
    Ok(())
}

/// Checks the `len` bytes read back into the data area against the generator's `seed`, and
/// the same bytes at rest at byte `pos` of `lun` of `target`, 512 bytes at a time.
fn verify(
    w: &mut World<'_>,
    target: TargetId,
    lun: Lun,
    pos: u64,
    len: u32,
    seed: u64,
    i: u16,
) -> Result<(), Failure> {
    let mut expect = [0u8; 512];
    let mut s = seed | 1;
    let mut at_rest = [0u8; 512];
    let at = w.data_at as usize;
    let read_back = w
        .link
        .a
        .region()
        .get(at..at.saturating_add(len as usize))
        .unwrap_or(&[]);
    let lu = w.backend.lu_mut(target, lun).ok_or(Failure::AtRest)?;
    for (k, got) in read_back.chunks(512).enumerate() {
        for chunk in expect.chunks_mut(8) {
            chunk.copy_from_slice(&next(&mut s).to_le_bytes());
        }
        if let Some(d) = got.iter().zip(expect.iter()).position(|(a, b)| a != b) {
            let offset = k.saturating_mul(512).saturating_add(d);
            error!(
                "command {=u16}: read-back differs at byte {=usize}",
                i, offset
            );
            return Err(Failure::Miscompare {
                offset: offset as u32,
            });
        }
        let Some(rest) = at_rest.get_mut(..got.len()) else {
            return Err(Failure::AtRest);
        };
        let pos = pos.saturating_add((k as u64).saturating_mul(512));
        if lu.lu.device_mut().read_at(pos, rest).is_err() || rest != got {
            return Err(Failure::AtRest);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::default_config;
    use iser_core::config::{List, LunConfig};
    use std::boxed::Box;
    use std::vec;

    fn leak(n: usize) -> &'static mut [u8] {
        Box::leak(vec![0u8; n].into_boxed_slice())
    }

    fn statics() -> Statics {
        Statics {
            lu: leak(LU_BYTES),
            initiator_region: leak(INITIATOR_REGION),
            target_region: leak(TARGET_REGION),
            target: Box::leak(Box::new(StaticCell::new())),
            initiator: Box::leak(Box::new(StaticCell::new())),
            backend: Box::leak(Box::new(StaticCell::new())),
        }
    }

    fn clock() -> u64 {
        0
    }

    /// Commands a run of `c` completes: per target REPORT LUNS, then per LUN two TEST UNIT
    /// READY and `commands` write/read pairs.
    fn expected_commands(c: &FwConfig<'_>) -> u32 {
        let luns = c.lu_count() as u32;
        c.targets.len() as u32 + luns * (2 + 2 * u32::from(c.workload.commands))
    }

    #[test]
    fn test_selftest_passes_with_default_config() {
        let c = default_config();
        let s = run(&c, statics(), clock).unwrap();
        assert_eq!(s.logins, 2);
        assert_eq!(s.luns, 3);
        assert_eq!(s.commands, expected_commands(&c));
        assert!(s.bytes_verified > 0);
        assert!(
            s.target_nic.rdma_reads > 0 && s.target_nic.rdma_writes > 0,
            "{s:?}"
        );
        std::println!("{s:?}");
    }

    #[test]
    fn test_selftest_without_hello_and_tiny_buffers() {
        let mut c = default_config();
        c.limits.hello = false;
        c.limits.immediate_data = true;
        c.limits.initial_r2t = false;
        c.limits.buf_size = 1024;
        c.limits.max_recv_data_segment_length = 512;
        c.workload.commands = 6;
        let mut t = *c.targets.first().unwrap();
        t.luns = List::from_slice(&[LunConfig {
            id: 9,
            block_size: 4096,
            blocks: 64,
            ..LunConfig::default()
        }])
        .unwrap();
        c.targets = List::from_slice(&[t]).unwrap();
        c.validate(&CAPACITY).unwrap();
        let s = run(&c, statics(), clock).unwrap();
        assert_eq!((s.logins, s.luns), (1, 1));
        assert_eq!(s.commands, 1 + 2 + 12);
        assert!(
            s.initiator_nic.sends > 14,
            "immediate data in the Sends: {s:?}"
        );
    }

    #[test]
    fn test_every_lun_holds_its_own_data() {
        // Four LUNs filling the LU memory: one target with three, one with one. The at-rest
        // check reads each LUN's own memory, so a command routed to another LUN, or LUs
        // overlapping in memory, fails it.
        let mut c = default_config();
        let lun = |id, block_size, blocks| LunConfig {
            id,
            block_size,
            blocks,
            ..LunConfig::default()
        };
        let mut a = *c.targets.first().unwrap();
        a.luns =
            List::from_slice(&[lun(0, 512, 1024), lun(1, 4096, 128), lun(2, 512, 1024)]).unwrap();
        let mut b = *c.targets.iter().nth(1).unwrap();
        b.luns = List::from_slice(&[lun(0, 4096, 128)]).unwrap();
        c.targets = List::from_slice(&[a, b]).unwrap();
        c.workload.commands = 4;
        c.validate(&CAPACITY).unwrap();
        let s = run(&c, statics(), clock).unwrap();
        assert_eq!((s.logins, s.luns), (2, 4));
        assert_eq!(s.commands, expected_commands(&c));
    }

    #[test]
    fn test_statics_are_taken_once() {
        let c = default_config();
        let st = statics();
        let (t, i, b) = (st.target, st.initiator, st.backend);
        run(&c, st, clock).unwrap();
        let again = Statics {
            target: t,
            initiator: i,
            backend: b,
            ..statics()
        };
        assert_eq!(run(&c, again, clock), Err(Failure::Resources));
    }

    #[test]
    fn print_static_sizes() {
        use core::mem::size_of;
        std::println!(
            "target {} initiator {} backend {} link {} target/task {} initiator/task {}",
            size_of::<Target>(),
            size_of::<Initiator>(),
            size_of::<Backend>(),
            size_of::<FwLink<'static>>(),
            size_of::<IserTarget<{ TASKS + 1 }, BUFS>>() - size_of::<Target>(),
            size_of::<IserInitiator<'static, { TASKS + 1 }, BUFS>>() - size_of::<Initiator>(),
        );
    }
}
