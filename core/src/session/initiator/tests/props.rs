//! Property test: an initiator and a target with random negotiated parameters (segment lengths,
//! bursts, InitialR2T, ImmediateData, MaxOutstandingR2T, digests, the target's CmdSN window),
//! random initial sequence numbers and random cuts of the byte stream, running batches of random
//! reads and writes at random queue depths; every read returns what the model disk holds.

use std::vec;
use std::vec::Vec;

use proptest::prelude::*;

use super::fixture::*;
use crate::session::initiator::{InitiatorConfig, ScsiRequest};
use crate::session::target::TargetConfig;
use crate::wire::{Lun, Residual, ScsiStatus};

const DISK: usize = 1 << 20;
const BLOCKS: u64 = (DISK / BLOCK as usize) as u64;

fn seg_len() -> impl Strategy<Value = u32> {
    prop_oneof![Just(512u32), Just(8192), Just(262_144), 512u32..=65536]
}

fn burst_len() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(512u32),
        Just(262_144),
        Just(1 << 20),
        512u32..=(1 << 20)
    ]
}

#[derive(Clone, Copy, Debug)]
struct Params {
    ini_mrdsl: u32,
    ini_burst: u32,
    ini_first: u32,
    ini_initial_r2t: bool,
    ini_immediate: bool,
    ini_max_r2t: u16,
    header_digest: bool,
    data_digest: bool,
    tgt_mrdsl: u32,
    tgt_burst: u32,
    tgt_first: u32,
    tgt_initial_r2t: bool,
    tgt_immediate: bool,
    tgt_max_r2t: u16,
    tgt_queue_depth: u32,
    allow_digests: bool,
}

fn params() -> impl Strategy<Value = Params> {
    (
        (
            seg_len(),
            burst_len(),
            burst_len(),
            any::<bool>(),
            any::<bool>(),
            1u16..=4,
            any::<bool>(),
            any::<bool>(),
        ),
        (
            seg_len(),
            burst_len(),
            burst_len(),
            any::<bool>(),
            any::<bool>(),
            1u16..=4,
            1u32..=32,
            any::<bool>(),
        ),
    )
        .prop_map(|(i, t)| Params {
            ini_mrdsl: i.0,
            ini_burst: i.1,
            ini_first: i.2.min(i.1),
            ini_initial_r2t: i.3,
            ini_immediate: i.4,
            ini_max_r2t: i.5,
            header_digest: i.6,
            data_digest: i.7,
            tgt_mrdsl: t.0,
            tgt_burst: t.1,
            tgt_first: t.2.min(t.1),
            tgt_initial_r2t: t.3,
            tgt_immediate: t.4,
            tgt_max_r2t: t.5,
            tgt_queue_depth: t.6,
            allow_digests: t.7,
        })
}

/// (write, lba, blocks, surplus bytes of Expected Data Transfer Length)
type Op = (bool, u64, u32, u32);

fn batch() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        (
            any::<bool>(),
            0..BLOCKS,
            prop_oneof![1u32..=8, 1u32..=64],
            prop_oneof![6 => Just(0u32), 1 => 1u32..=3000],
        ),
        1..=24,
    )
}

fn overlaps(a: (u64, u32), b: (u64, u32)) -> bool {
    a.0 < b.0 + u64::from(b.1) && b.0 < a.0 + u64::from(a.1)
}

fn configs(p: &Params) -> (InitiatorConfig<'static>, TargetConfig) {
    let mut c = icfg();
    c.max_recv_data_segment_length = p.ini_mrdsl;
    c.max_burst_length = p.ini_burst;
    c.first_burst_length = p.ini_first;
    c.initial_r2t = p.ini_initial_r2t;
    c.immediate_data = p.ini_immediate;
    c.max_outstanding_r2t = p.ini_max_r2t;
    c.header_digest = p.header_digest;
    c.data_digest = p.data_digest;
    let t = TargetConfig {
        max_recv_data_segment_length: p.tgt_mrdsl,
        max_burst_length: p.tgt_burst,
        first_burst_length: p.tgt_first,
        initial_r2t: p.tgt_initial_r2t,
        immediate_data: p.tgt_immediate,
        max_outstanding_r2t: p.tgt_max_r2t,
        queue_depth: p.tgt_queue_depth,
        allow_digests: p.allow_digests,
        ..TargetConfig::default()
    };
    (c, t)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn prop_random_io_verifies(
        p in params(),
        batches in proptest::collection::vec(batch(), 1..6),
        ie in any::<[u8; 32]>(),
        te in any::<[u8; 32]>(),
        chunk in prop_oneof![3 => Just(0usize), 1 => 1usize..300],
        tx_buf in prop_oneof![3 => Just(1usize << 20), 1 => 600usize..5000],
        data_seed in any::<u8>(),
    ) {
        let (c, t) = configs(&p);
        let mut pair = Pair::<32>::with_entropy(c, t, RamBackend::new(DISK), ie, te);
        pair.chunk = chunk;
        pair.tx_buf = tx_buf;
        pair.login();
        let n = pair.ini.negotiated().clone();
        prop_assert_eq!(n.initial_r2t, p.ini_initial_r2t || p.tgt_initial_r2t);
        prop_assert_eq!(n.immediate_data, p.ini_immediate && p.tgt_immediate);
        let _ = pair.run(&ScsiRequest::no_data(Lun(0), &TUR), None);
        let mut model = vec![0u8; DISK];
        let mut fill = data_seed;
        for ops in batches {
            // Ops of one batch run concurrently: keep them disjoint so the outcome is defined.
            let mut taken: Vec<(u64, u32)> = Vec::new();
            let mut inflight = Vec::new();
            for (write, lba, blocks, surplus) in ops {
                let blocks = blocks.min((BLOCKS - lba) as u32);
                if taken.iter().any(|&r| overlaps(r, (lba, blocks))) {
                    continue;
                }
                taken.push((lba, blocks));
                let len = blocks * BLOCK;
                let edtl = len + surplus;
                let cdb = rw16(write, lba, blocks);
                let (req, data) = if write {
                    let d: Vec<u8> = (0..edtl).map(|i| {
                        fill = fill.wrapping_add(1);
                        (i as u8) ^ fill
                    }).collect();
                    (ScsiRequest::write(Lun(0), &cdb, edtl), Some(d))
                } else {
                    (ScsiRequest::read(Lun(0), &cdb, edtl), None)
                };
                let h = pair.submit(&req, data.clone());
                inflight.push((h, write, lba, len, surplus, data));
            }
            pair.drive();
            for (h, write, lba, len, surplus, data) in inflight {
                let s = pair.host.take_done(h);
                prop_assert!(s.is_some(), "task did not complete");
                let s = s.unwrap();
                prop_assert!(s.is_ok(), "{:?}", s);
                let s = s.unwrap();
                prop_assert_eq!(s.status, ScsiStatus::GOOD, "sense {:02x?}", s.sense);
                let residual = if surplus == 0 { Residual::None } else { Residual::Underflow(surplus) };
                prop_assert_eq!(s.residual, residual);
                let at = (lba * u64::from(BLOCK)) as usize;
                if write {
                    let d = pair.host.writes.remove(&h.index()).unwrap();
                    prop_assert_eq!(Some(&d), data.as_ref());
                    model[at..at + len as usize].copy_from_slice(&d[..len as usize]);
                } else {
                    prop_assert_eq!(s.read_bytes, len);
                    let got = pair.host.reads.remove(&h.index()).unwrap();
                    prop_assert!(got[..len as usize] == model[at..at + len as usize], "read at {} differs", lba);
                    // Pieces tile the buffer exactly.
                    let mut pieces: Vec<_> = pair.host.pieces.iter()
                        .filter(|x| x.0 == h.index()).map(|x| (x.1, x.2)).collect();
                    pieces.sort();
                    let mut next = 0u32;
                    for (off, n) in pieces {
                        prop_assert_eq!(off, next);
                        prop_assert!(n <= n_max(&pair));
                        next += n as u32;
                    }
                    prop_assert_eq!(next, len);
                }
                pair.host.pieces.retain(|x| x.0 != h.index());
            }
            prop_assert!(pair.host.events.is_empty(), "{:?}", pair.host.events);
            prop_assert_eq!(pair.ini.tasks_in_flight(), 0);
        }
        pair.ini.logout().unwrap();
        pair.drive();
        prop_assert_eq!(pair.host.events.as_slice(), [Ev::LoggedOut(true)]);
        prop_assert!(pair.tgt.is_closed());
    }
}

/// The largest Data-In segment the target may send us.
fn n_max<const T: usize>(p: &Pair<T>) -> usize {
    p.ini.negotiated().initiator_max_recv_data_segment_length as usize
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Whatever a target sends (any header, fields at random, often naming a task in flight),
    /// the initiator neither panics nor loops: every call returns, transmit drains to Idle, read
    /// data stay inside their buffers (the recording host would panic otherwise) and each task
    /// completes at most once.
    #[test]
    fn prop_any_target_pdus_never_panic_or_hang(
        pdus in proptest::collection::vec(
            (crate::wire::testutil::any_pdu_repr(), any::<u8>(),
             proptest::collection::vec(any::<u8>(), 0..48)),
            1..30),
        digests in any::<bool>(),
    ) {
        let mut c = icfg();
        c.header_digest = digests;
        c.initial_r2t = true;
        c.immediate_data = false;
        let t = TargetConfig { initial_r2t: true, ..TargetConfig::default() };
        let mut pair = ready::<8>(c, t);
        let read = pair.submit(&ScsiRequest::read(Lun(0), &rw16(false, 0, 4), 4 * BLOCK), None);
        let write = pair.submit(
            &ScsiRequest::write(Lun(0), &rw16(true, 8, 4), 4 * BLOCK), Some(vec![1; 2048]));
        let tur = pair.submit(&ScsiRequest::no_data(Lun(0), &TUR), None);
        // Send the commands; the target never sees them.
        let mut buf = vec![0u8; 1 << 16];
        for _ in 0..3 {
            let _ = pair.ini.poll_transmit(pair.now, &mut buf, &mut pair.host);
        }
        let itts: Vec<u32> = [read, write, tur].iter().filter_map(|h| pair.ini.itt_of(*h)).collect();
        prop_assert_eq!(itts.len(), 3);
        let d = pair.ini.negotiated().header_digest == crate::negotiate::Digest::Crc32c;
        let digests = crate::wire::frame::Digests { header: d, data: false };
        for (repr, pick, data) in pdus {
            let mut pdu = vec![0u8; 256];
            let n = crate::wire::frame::emit_pdu(&repr, &[], &data, digests, &mut pdu).unwrap();
            if pick % 3 != 0 {
                let itt = itts[usize::from(pick) % itts.len()];
                pdu[16..20].copy_from_slice(&itt.to_be_bytes());
                if digests.header {
                    let crc = crate::wire::crc32c(&pdu[..48]);
                    pdu[48..52].copy_from_slice(&crc.to_le_bytes());
                }
            }
            let used = pair.ini.handle_bytes(&pdu[..n], pair.now, &mut pair.host);
            prop_assert!(used <= n);
            let mut idle = false;
            for _ in 0..10_000 {
                match pair.ini.poll_transmit(pair.now, &mut buf, &mut pair.host) {
                    crate::session::target::Transmit::Written(_) => {}
                    crate::session::target::Transmit::NeedSpace(k) => buf.resize(k, 0),
                    crate::session::target::Transmit::Idle => { idle = true; break; }
                }
            }
            prop_assert!(idle, "transmit never went idle");
            pair.ini.handle_timeout(pair.now, &mut pair.host);
        }
        pair.ini.connection_lost(&mut pair.host);
        for h in [read, write, tur] {
            let n = pair.host.events.iter()
                .filter(|e| matches!(e, Ev::Done { task, .. } if *task == h)).count();
            prop_assert_eq!(n, 1, "task {:?} completed {} times", h, n);
        }
        prop_assert!(pair.ini.is_closed());
    }
}
