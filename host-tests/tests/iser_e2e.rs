//! Our iSER initiator engine and our iSER target engine meet over the in-memory RC fabric:
//! login with RDMAExtensions=Yes, SCSI reads and writes of random sizes (1 block to 16 MiB,
//! crossing buffer and segment sizes) with every byte verified, STags advertised per command
//! and gone when the command ends, every pool buffer back, and faults that end the connection
//! cleanly on both sides.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use host_tests::fabric::{Access, EndpointId, Fabric, FabricConfig, Fault, Stag};
use host_tests::ram_target::{RamTarget, TARGET_NAME};
use iser_core::dm::iser::{IserConfig, IserInitiator, IserSubmitError, IserTarget, Registrar};
use iser_core::dm::{BufRef, DmOp, RemoteBuf, WcStatus};
use iser_core::session::initiator::{
    InitiatorConfig, InitiatorEvent, InitiatorSink, ScsiRequest, TaskHandle,
};
use iser_core::session::TargetConfig;
use iser_core::time::Instant;
use iser_core::wire::{CmPrivateData, Lun};
use proptest::prelude::*;

const TASKS: usize = 32;
const BUFS: usize = 64;
const DATA_LEN: usize = 17 << 20;
/// Copy buffers of the initiator under test: transfers below `COPY_SIZE` go through them.
const COPY_BUFS: usize = 4;
const COPY_SIZE: u32 = 32 * 1024;

/// Registers in the fabric right away (used when nothing else borrows it).
struct Registering<'f> {
    fabric: &'f mut Fabric,
    ep: EndpointId,
}

impl Registrar for Registering<'_> {
    fn register(&mut self, buf: BufRef, target_writes: bool) -> Option<RemoteBuf> {
        let access = Access {
            remote_read: !target_writes,
            remote_write: target_writes,
        };
        self.fabric
            .register_remote(self.ep, buf.offset, buf.len, access)
            .ok()
    }
    fn invalidate(&mut self, stag: u32) {
        let _ = self.fabric.invalidate(self.ep, Stag(stag));
    }
}

/// Collects local invalidations while the region is borrowed; applied right after.
#[derive(Default)]
struct Deferred(Vec<u32>);

impl Registrar for Deferred {
    fn register(&mut self, _: BufRef, _: bool) -> Option<RemoteBuf> {
        None
    }
    fn invalidate(&mut self, stag: u32) {
        self.0.push(stag);
    }
}

#[derive(Default)]
struct Events {
    logged_in: bool,
    done: HashMap<TaskHandle, Result<u8, String>>,
    closed: bool,
}

impl InitiatorSink for Events {
    fn read_data(&mut self, _: TaskHandle, _: u32, _: &[u8]) {
        panic!("under iSER read data arrives by RDMA Write, never in Data-In");
    }
    fn event(&mut self, event: InitiatorEvent<'_>) {
        match event {
            InitiatorEvent::LoggedIn { .. } => self.logged_in = true,
            InitiatorEvent::TaskDone { task, result } => {
                self.done.insert(
                    task,
                    result.map(|s| s.status.0).map_err(|e| format!("{e:?}")),
                );
            }
            InitiatorEvent::Closed(_) | InitiatorEvent::LoggedOut { .. } => self.closed = true,
            InitiatorEvent::LoginFailed(e) => panic!("login failed: {e:?}"),
            _ => {}
        }
    }
}

struct World {
    fabric: Fabric,
    ini_ep: EndpointId,
    tgt_ep: EndpointId,
    ini: IserInitiator<'static, TASKS, BUFS>,
    tgt: IserTarget<TASKS, BUFS>,
    backend: RamTarget,
    events: Events,
    now: Instant,
    data_at: u32,
    /// Lose the initiator's iSER Hello on the way (a target that ignores it).
    drop_hello: bool,
    /// The most unexpected PDUs the initiator had outstanding at once.
    max_unexpected: usize,
}

impl World {
    fn new(cm: CmPrivateData) -> World {
        Self::with_hello(cm, false)
    }

    fn with_hello(cm: CmPrivateData, hello: bool) -> World {
        Self::build(cm, hello, false)
    }

    fn submit_err(&mut self) -> IserSubmitError {
        let c = cdb16(0x88, 0, 1);
        let mut reg = Registering {
            fabric: &mut self.fabric,
            ep: self.ini_ep,
        };
        self.ini
            .submit(
                &ScsiRequest::read(Lun(0), &c, 512),
                BufRef {
                    offset: self.data_at,
                    len: 512,
                },
                &mut reg,
            )
            .unwrap_err()
    }

    fn build(cm: CmPrivateData, hello: bool, drop_hello: bool) -> World {
        let iser = IserConfig {
            buf_size: 64 * 1024,
            recv_depth: 8,
            max_rdma_reads: 4,
            send_window: 4,
        };
        Self::build_with(cm, hello, drop_hello, iser, iser)
    }

    fn build_with(
        cm: CmPrivateData,
        hello: bool,
        drop_hello: bool,
        iser: IserConfig,
        tgt_iser: IserConfig,
    ) -> World {
        let mut config = InitiatorConfig::new("iqn.2026-11.rs.iser:initiator", Some(TARGET_NAME));
        config.max_recv_data_segment_length = 32 * 1024;
        let mut ini = IserInitiator::new(&config, iser, [9; 32], Instant(0))
            .with_hello(hello)
            .with_copy_buffers(COPY_BUFS, COPY_SIZE, COPY_SIZE);
        ini.connected(cm, Instant(0));
        let tgt = IserTarget::new(&TargetConfig::default(), tgt_iser, cm, [5; 32], Instant(0));
        let data_at = ini.control_region_len() as u32;
        let mut fabric = Fabric::new(FabricConfig::default());
        let (ini_ep, tgt_ep) =
            fabric.connect_pair_sized(data_at + DATA_LEN as u32, tgt.region_len() as u32);
        let mut w = World {
            fabric,
            ini_ep,
            tgt_ep,
            ini,
            tgt,
            backend: RamTarget::new(32 << 20),
            events: Events::default(),
            now: Instant(0),
            data_at,
            drop_hello,
            max_unexpected: 0,
        };
        w.pump();
        assert!(w.events.logged_in, "login completes");
        assert!(w.ini.session().negotiated().rdma_extensions);
        w
    }

    fn pump(&mut self) {
        loop {
            let mut progress = false;
            // The target posts its receives before the initiator's first Send, as a real
            // target does before it accepts the connection.
            while let Some(op) = self.tgt.poll_op(
                self.fabric.region_mut(self.tgt_ep),
                &mut self.backend,
                self.now,
            ) {
                let _ = self.fabric.post(self.tgt_ep, op);
                progress = true;
            }
            while let Some(op) = self
                .ini
                .poll_op(self.fabric.region_mut(self.ini_ep), self.now)
            {
                progress = true;
                if let DmOp::Send { buf, .. } = op {
                    let first = self.fabric.region(self.ini_ep)[buf.offset as usize];
                    if self.drop_hello && first >> 4 == 0x2 {
                        continue;
                    }
                }
                let _ = self.fabric.post(self.ini_ep, op);
            }
            while let Some(ev) = self.fabric.poll(self.tgt_ep) {
                self.tgt.handle_event(
                    ev,
                    self.fabric.region_mut(self.tgt_ep),
                    &mut self.backend,
                    self.now,
                );
                progress = true;
            }
            while let Some(ev) = self.fabric.poll(self.ini_ep) {
                let mut deferred = Deferred::default();
                self.ini.handle_event(
                    ev,
                    self.fabric.region_mut(self.ini_ep),
                    &mut deferred,
                    &mut self.events,
                    self.now,
                );
                for stag in deferred.0 {
                    let _ = self.fabric.invalidate(self.ini_ep, Stag(stag));
                }
                progress = true;
            }
            self.max_unexpected = self.max_unexpected.max(self.ini.unexpected_outstanding());
            if !progress {
                return;
            }
        }
    }

    fn submit(&mut self, req: &ScsiRequest<'_>, offset: u32, len: u32) -> TaskHandle {
        let mut reg = Registering {
            fabric: &mut self.fabric,
            ep: self.ini_ep,
        };
        self.ini
            .submit(
                req,
                BufRef {
                    offset: self.data_at + offset,
                    len,
                },
                &mut reg,
            )
            .unwrap()
    }

    fn run(&mut self, req: &ScsiRequest<'_>, offset: u32, len: u32) -> u8 {
        let task = self.submit(req, offset, len);
        self.pump();
        match self.events.done.remove(&task) {
            Some(Ok(status)) => status,
            other => panic!(
                "task ended with {other:?}; target error {:?}; counters ini {:?} tgt {:?}",
                self.tgt.error(),
                self.fabric.counters(self.ini_ep),
                self.fabric.counters(self.tgt_ep)
            ),
        }
    }

    fn data(&mut self) -> &mut [u8] {
        let at = self.data_at as usize;
        &mut self.fabric.region_mut(self.ini_ep)[at..at + DATA_LEN]
    }
}

fn cdb16(op: u8, lba: u64, blocks: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = op;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9).wrapping_add(seed) >> 11) as u8)
        .collect()
}

fn write_read(w: &mut World, lba: u64, bytes: usize, seed: u64) {
    let data = pattern(bytes, seed);
    w.data()[..bytes].copy_from_slice(&data);
    let blocks = (bytes / 512) as u32;
    let c = cdb16(0x8a, lba, blocks);
    assert_eq!(
        w.run(
            &ScsiRequest::write(Lun(0), &c, bytes as u32),
            0,
            bytes as u32
        ),
        0
    );
    w.data()[..bytes].fill(0xee);
    let c = cdb16(0x88, lba, blocks);
    assert_eq!(
        w.run(
            &ScsiRequest::read(Lun(0), &c, bytes as u32),
            0,
            bytes as u32
        ),
        0
    );
    assert!(
        w.data()[..bytes] == data[..],
        "{bytes} bytes at LBA {lba} differ"
    );
    // Data at rest too.
    let mut disk = vec![0u8; bytes];
    use iser_core::scsi::BlockDevice;
    w.backend
        .lu
        .device_mut()
        .read_at(lba * 512, &mut disk)
        .unwrap();
    assert!(disk == data);
}

/// Every valid STag of the initiator belongs to a copy buffer (those outlive commands).
fn only_copy_stags(w: &World) -> bool {
    let copy: Vec<u32> = w.ini.copy_stags().collect();
    assert!(copy.len() <= COPY_BUFS);
    w.fabric
        .valid_stags(w.ini_ep)
        .iter()
        .all(|s| copy.contains(&s.0))
}

fn clear_ua(w: &mut World) {
    let tur = [0u8; 6];
    assert_eq!(w.run(&ScsiRequest::no_data(Lun(0), &tur), 0, 0), 2);
}

#[test]
fn iser_initiator_and_target_round_trip_up_to_16_mib() {
    let mut w = World::new(CmPrivateData::LINUX_INITIATOR);
    clear_ua(&mut w);
    for (i, blocks) in [1usize, 7, 64, 129, 2048, 32768].into_iter().enumerate() {
        write_read(&mut w, 1000 * i as u64, blocks * 512, i as u64);
        // Linux says it cannot take Send with Invalidate: our initiator invalidates locally.
        assert!(
            only_copy_stags(&w),
            "no STag but the copy buffers' outlives its command"
        );
        assert_eq!(w.ini.tasks_with_stags(), 0);
    }
    let c = w.fabric.counters(w.tgt_ep);
    assert!(
        c.rdma_reads > 0 && c.rdma_writes > 0,
        "data moved by RDMA: {c:?}"
    );
    w.ini.session_mut().logout().unwrap();
    w.pump();
    assert!(w.events.closed);
    assert!(
        w.tgt.is_closed() && w.ini.is_closed(),
        "every buffer back on both sides"
    );
    assert!(
        w.fabric.valid_stags(w.ini_ep).is_empty(),
        "the copy buffers' STags end with the connection"
    );
}

#[test]
fn iser_send_with_invalidate_releases_stags_remotely() {
    let mut w = World::new(CmPrivateData {
        zbva_not_supported: true,
        send_inv_not_supported: false,
    });
    clear_ua(&mut w);
    write_read(&mut w, 5, 64 * 1024, 3);
    assert!(w.fabric.valid_stags(w.ini_ep).is_empty());
    assert!(w.fabric.counters(w.ini_ep).invalidations >= 2);
}

#[test]
fn iser_dropped_connection_fails_tasks_and_returns_buffers() {
    let mut w = World::new(CmPrivateData::LINUX_INITIATOR);
    clear_ua(&mut w);
    let c = cdb16(0x88, 0, 2048);
    let task = w.submit(&ScsiRequest::read(Lun(0), &c, 1 << 20), 0, 1 << 20);
    w.fabric
        .inject(Fault::DropConnection { endpoint: w.tgt_ep })
        .unwrap();
    w.pump();
    assert!(
        matches!(w.events.done.get(&task), Some(Err(_))),
        "the task fails: {:?}",
        w.events.done
    );
    assert!(w.fabric.valid_stags(w.ini_ep).is_empty());
    assert!(w.tgt.is_closed() && w.ini.is_closed());
    assert_eq!(w.backend.sessions_ended, 1);
    let _ = WcStatus::Success;
}

#[test]
fn iser_hello_exchange_before_commands() {
    let mut w = World::with_hello(CmPrivateData::LINUX_INITIATOR, true);
    assert_eq!(
        w.ini.stage(),
        Some(iser_core::conn::StageKind::LoggedIn),
        "HelloReply accepted"
    );
    assert_eq!(w.ini.hello_error(), None);
    clear_ua(&mut w);
    write_read(&mut w, 9, 8192, 1);
}

#[test]
fn iser_hello_timeout_fails_the_connection() {
    // A target that ignores the Hello (as tgt does): the Hello is never delivered.
    let mut w = World::build(CmPrivateData::LINUX_INITIATOR, true, true);
    assert_eq!(w.ini.stage(), Some(iser_core::conn::StageKind::HelloSent));
    assert!(matches!(w.submit_err(), IserSubmitError::HelloPending));
    let deadline = w.ini.poll_timeout().expect("a Hello deadline");
    assert_eq!(
        deadline,
        Instant(500_000),
        "500 ms after the login completed at t=0"
    );
    let mut deferred = Deferred::default();
    w.ini.handle_timeout(deadline, &mut deferred, &mut w.events);
    assert_eq!(
        w.ini.hello_error(),
        Some(iser_core::conn::HelloError::HelloTimeout)
    );
    assert!(matches!(
        w.ini.poll_op(w.fabric.region_mut(w.ini_ep), deadline),
        None | Some(iser_core::dm::DmOp::Disconnect)
    ));
}

/// The same workload over iSCSI/TCP: `InitiatorConn` and `TargetConn` joined by an in-memory
/// byte stream. Returns every read's data and the disk image at the end.
fn run_over_tcp(ops: &[(usize, u64, u64)]) -> (Vec<Vec<u8>>, Vec<u8>) {
    use iser_core::session::initiator::{InitiatorConn, Transmit as ITransmit, WriteSource};
    use iser_core::session::{TargetConn, Transmit};

    struct Buffers {
        write: Vec<u8>,
        read: Vec<u8>,
        done: HashMap<TaskHandle, u8>,
        logged_in: bool,
    }
    impl WriteSource for Buffers {
        fn write_data(&mut self, _: TaskHandle, offset: u32, buf: &mut [u8]) {
            let o = offset as usize;
            buf.copy_from_slice(&self.write[o..o + buf.len()]);
        }
    }
    impl InitiatorSink for Buffers {
        fn read_data(&mut self, _: TaskHandle, offset: u32, data: &[u8]) {
            let o = offset as usize;
            self.read[o..o + data.len()].copy_from_slice(data);
        }
        fn event(&mut self, event: InitiatorEvent<'_>) {
            match event {
                InitiatorEvent::LoggedIn { .. } => self.logged_in = true,
                InitiatorEvent::TaskDone { task, result } => {
                    self.done
                        .insert(task, result.map(|s| s.status.0).unwrap_or(0xff));
                }
                _ => {}
            }
        }
    }
    let config = InitiatorConfig::new("iqn.2026-11.rs.iser:initiator", Some(TARGET_NAME));
    let mut ini: InitiatorConn<'_, TASKS> = InitiatorConn::new(&config, [9; 32], Instant(0));
    let mut tgt: TargetConn<TASKS> = TargetConn::new(&TargetConfig::default(), [5; 32], Instant(0));
    let mut backend = RamTarget::new(32 << 20);
    let mut io = Buffers {
        write: Vec::new(),
        read: Vec::new(),
        done: HashMap::new(),
        logged_in: false,
    };
    let mut buf = vec![0u8; 2 << 20];
    let mut pump = |ini: &mut InitiatorConn<'_, TASKS>,
                    tgt: &mut TargetConn<TASKS>,
                    backend: &mut RamTarget,
                    io: &mut Buffers| loop {
        let mut to_target = Vec::new();
        while let ITransmit::Written(n) = ini.poll_transmit(Instant(0), &mut buf, io) {
            to_target.extend_from_slice(&buf[..n]);
        }
        let mut at = 0;
        while at < to_target.len() {
            let n = tgt.handle_bytes(&to_target[at..], backend, Instant(0));
            assert!(n > 0, "target stalled");
            at += n;
        }
        let mut to_ini = Vec::new();
        while let Transmit::Written(n) = tgt.poll_transmit(backend, Instant(0), &mut buf) {
            to_ini.extend_from_slice(&buf[..n]);
        }
        let mut at = 0;
        while at < to_ini.len() {
            let n = ini.handle_bytes(&to_ini[at..], Instant(0), io);
            assert!(n > 0, "initiator stalled");
            at += n;
        }
        if to_target.is_empty() && to_ini.is_empty() {
            return;
        }
    };
    pump(&mut ini, &mut tgt, &mut backend, &mut io);
    assert!(io.logged_in);
    let tur = [0u8; 6];
    let t = ini.submit(&ScsiRequest::no_data(Lun(0), &tur)).unwrap();
    pump(&mut ini, &mut tgt, &mut backend, &mut io);
    assert_eq!(io.done.remove(&t), Some(2));
    let mut reads = Vec::new();
    for &(blocks, lba, seed) in ops {
        let bytes = blocks * 512;
        io.write = pattern(bytes, seed);
        let c = cdb16(0x8a, lba, blocks as u32);
        let t = ini
            .submit(&ScsiRequest::write(Lun(0), &c, bytes as u32))
            .unwrap();
        pump(&mut ini, &mut tgt, &mut backend, &mut io);
        assert_eq!(io.done.remove(&t), Some(0));
        io.read = vec![0; bytes];
        let c = cdb16(0x88, lba, blocks as u32);
        let t = ini
            .submit(&ScsiRequest::read(Lun(0), &c, bytes as u32))
            .unwrap();
        pump(&mut ini, &mut tgt, &mut backend, &mut io);
        assert_eq!(io.done.remove(&t), Some(0));
        reads.push(std::mem::take(&mut io.read));
    }
    let mut disk = vec![0u8; 32 << 20];
    use iser_core::scsi::BlockDevice;
    backend.lu.device_mut().read_at(0, &mut disk).unwrap();
    (reads, disk)
}

#[test]
fn iser_and_tcp_give_identical_results() {
    let ops = [
        (1usize, 3u64, 1u64),
        (64, 3, 2),
        (2048, 100, 3),
        (9, 101, 4),
        (4096, 5000, 5),
    ];
    let (tcp_reads, tcp_disk) = run_over_tcp(&ops);
    let mut w = World::new(CmPrivateData::LINUX_INITIATOR);
    clear_ua(&mut w);
    let mut iser_reads = Vec::new();
    for &(blocks, lba, seed) in &ops {
        write_read(&mut w, lba, blocks * 512, seed);
        iser_reads.push(w.data()[..blocks * 512].to_vec());
    }
    let mut iser_disk = vec![0u8; 32 << 20];
    use iser_core::scsi::BlockDevice;
    w.backend
        .lu
        .device_mut()
        .read_at(0, &mut iser_disk)
        .unwrap();
    assert!(
        iser_reads == tcp_reads,
        "reads differ between the datamovers"
    );
    assert!(
        iser_disk == tcp_disk,
        "disk images differ between the datamovers"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]
    #[test]
    fn prop_random_workload_verifies(ops in proptest::collection::vec((1usize..4096, 0u64..40_000, any::<u64>()), 1..5), sinv in any::<bool>()) {
        let mut w = World::new(CmPrivateData { zbva_not_supported: true, send_inv_not_supported: !sinv });
        clear_ua(&mut w);
        for (blocks, lba, seed) in ops {
            write_read(&mut w, lba, blocks * 512, seed);
            prop_assert!(only_copy_stags(&w));
        }
    }
}

#[test]
fn iser_initiator_keeps_requests_within_its_posted_receives() {
    // Three receives: two for answers to our requests, one kept for the target's pings. Twelve
    // reads at once would overrun them (receiver not ready) without the credit accounting.
    let tgt_iser = IserConfig {
        buf_size: 64 * 1024,
        recv_depth: 8,
        max_rdma_reads: 4,
        send_window: 4,
    };
    let iser = IserConfig {
        recv_depth: 3,
        ..tgt_iser
    };
    let mut w = World::build_with(CmPrivateData::LINUX_INITIATOR, false, false, iser, tgt_iser);
    clear_ua(&mut w);
    assert_eq!(w.ini.unexpected_limit(), 2);
    let data = pattern(12 * 4096, 77);
    use iser_core::scsi::BlockDevice;
    w.backend.lu.device_mut().write_at(0, &data, false).unwrap();
    w.max_unexpected = 0;
    let tasks: Vec<TaskHandle> = (0..12u32)
        .map(|i| {
            let c = cdb16(0x88, u64::from(i) * 8, 8);
            w.submit(&ScsiRequest::read(Lun(0), &c, 4096), i * 4096, 4096)
        })
        .collect();
    w.pump();
    for task in &tasks {
        assert_eq!(
            w.events.done.remove(task),
            Some(Ok(0)),
            "target error {:?}",
            w.tgt.error()
        );
    }
    assert!(w.data()[..12 * 4096] == data[..], "every read landed");
    assert_eq!(
        w.max_unexpected, 2,
        "two requests in flight at most, and used"
    );
    assert_eq!(w.ini.unexpected_outstanding(), 0);
}

#[test]
fn iser_initiator_copies_below_the_threshold_and_registers_above() {
    let mut w = World::new(CmPrivateData::LINUX_INITIATOR);
    clear_ua(&mut w);
    let registrations = |w: &World| w.fabric.counters(w.ini_ep).registrations;
    // Small transfers reuse one pre-registered copy buffer: one registration per direction.
    let before = registrations(&w);
    for i in 0..5u64 {
        write_read(&mut w, 10 * i, 4096, i);
    }
    assert_eq!(
        registrations(&w) - before,
        2,
        "copy buffers stay registered"
    );
    assert_eq!(
        w.ini.copy_stags().count(),
        2,
        "one read and one write buffer"
    );
    // At the threshold and above: the caller's buffer, registered per command.
    let before = registrations(&w);
    for i in 0..3u64 {
        write_read(&mut w, 100 * i, COPY_SIZE as usize, i);
    }
    assert_eq!(
        registrations(&w) - before,
        6,
        "registered in place each time"
    );
    assert!(only_copy_stags(&w));
}

#[test]
fn iser_initiator_falls_back_to_registration_when_the_copy_buffers_are_taken() {
    let mut w = World::new(CmPrivateData::LINUX_INITIATOR);
    clear_ua(&mut w);
    // Half the copy buffers serve reads.
    let read_bufs = COPY_BUFS / 2;
    let n = read_bufs as u32 + 3;
    let data = pattern(n as usize * 4096, 5);
    use iser_core::scsi::BlockDevice;
    w.backend.lu.device_mut().write_at(0, &data, false).unwrap();
    let before = w.fabric.counters(w.ini_ep).registrations;
    let tasks: Vec<TaskHandle> = (0..n)
        .map(|i| {
            let c = cdb16(0x88, u64::from(i) * 8, 8);
            w.submit(&ScsiRequest::read(Lun(0), &c, 4096), i * 4096, 4096)
        })
        .collect();
    assert_eq!(
        w.fabric.counters(w.ini_ep).registrations - before,
        u64::from(n),
        "{read_bufs} copy buffers registered once, 3 caller buffers in place"
    );
    w.pump();
    for task in &tasks {
        assert_eq!(w.events.done.remove(task), Some(Ok(0)));
    }
    assert!(
        w.data()[..data.len()] == data[..],
        "copied and in-place reads land"
    );
    assert_eq!(w.ini.copy_stags().count(), read_bufs);
    assert!(only_copy_stags(&w));
}

#[test]
fn iser_initiator_reregisters_a_copy_buffer_the_target_invalidated() {
    let mut w = World::new(CmPrivateData {
        zbva_not_supported: true,
        send_inv_not_supported: false,
    });
    clear_ua(&mut w);
    let before = w.fabric.counters(w.ini_ep).registrations;
    for i in 0..3u64 {
        write_read(&mut w, 7 * i, 8192, i);
        assert!(
            w.fabric.valid_stags(w.ini_ep).is_empty(),
            "the target's Send with Invalidate ended the copy STag"
        );
        assert_eq!(w.ini.copy_stags().count(), 0, "and the initiator knows it");
    }
    assert_eq!(
        w.fabric.counters(w.ini_ep).registrations - before,
        6,
        "registered afresh for each use"
    );
}

#[test]
fn iser_initiator_message_longer_than_its_receive_ends_the_connection_cleanly() {
    let mut w = World::new(CmPrivateData::LINUX_INITIATOR);
    clear_ua(&mut w);
    // A small read (through a copy buffer) and a large one (registered in place) outstanding.
    let c = cdb16(0x88, 0, 8);
    let small = w.submit(&ScsiRequest::read(Lun(0), &c, 4096), 0, 4096);
    let c = cdb16(0x88, 0, 256);
    let large = w.submit(
        &ScsiRequest::read(Lun(0), &c, 128 * 1024),
        65536,
        128 * 1024,
    );
    // Receives hold the iSER header, a BHS and our 32 KiB InitiatorRecvDataSegmentLength; the
    // peer sends more than that before anything else moves.
    let too_long = w.ini.recv_len() + 512;
    assert!(too_long <= 64 * 1024);
    w.fabric
        .post(
            w.tgt_ep,
            DmOp::Send {
                id: iser_core::dm::WrId(u64::MAX),
                buf: BufRef {
                    offset: 0,
                    len: too_long,
                },
                invalidate: None,
            },
        )
        .unwrap();
    w.pump();
    for task in [small, large] {
        assert!(
            matches!(w.events.done.get(&task), Some(Err(_))),
            "{:?}",
            w.events.done
        );
    }
    assert!(
        w.fabric.valid_stags(w.ini_ep).is_empty(),
        "every STag, the copy buffers' too, invalidated"
    );
    assert!(w.ini.is_closed() && w.tgt.is_closed(), "every buffer back");
}
