//! The in-memory RC fabric's verbs semantics: Send/Recv, receiver not ready, overlong messages,
//! Send with Invalidate, RDMA Read/Write bounds and permissions, STag lifetime, flush on
//! disconnect (the RC behaviour RFC 7145 §5 relies on).

// Test harness helpers outside `#[test]` functions: failing loudly is their job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use host_tests::fabric::{
    Access, EndpointId, Fabric, FabricConfig, FabricError, QpState, Stag, ADDR_STRIDE, BASE_ADDR,
};
use iser_core::dm::{BufRef, DmEvent, DmOp, RemoteBuf, WcStatus, WrId};

fn buf(offset: u32, len: u32) -> BufRef {
    BufRef { offset, len }
}

fn recv(id: u64, offset: u32, len: u32) -> DmOp {
    DmOp::PostRecv {
        id: WrId(id),
        buf: buf(offset, len),
    }
}

fn send(id: u64, offset: u32, len: u32) -> DmOp {
    DmOp::Send {
        id: WrId(id),
        buf: buf(offset, len),
        invalidate: None,
    }
}

fn done(id: u64, status: WcStatus) -> DmEvent {
    DmEvent::Done {
        id: WrId(id),
        status,
    }
}

fn recv_error(id: u64, status: WcStatus) -> DmEvent {
    DmEvent::RecvError {
        id: WrId(id),
        status,
    }
}

fn small() -> (Fabric, EndpointId, EndpointId) {
    Fabric::pair(FabricConfig {
        region_len: 4096,
        ..FabricConfig::default()
    })
}

fn fill(f: &mut Fabric, ep: EndpointId, offset: usize, data: &[u8]) {
    f.region_mut(ep)[offset..offset + data.len()].copy_from_slice(data);
}

/// Both QPs are in the error state and the connection is reported gone exactly once each.
fn assert_broken(
    f: &mut Fabric,
    a: EndpointId,
    b: EndpointId,
    a_events: &[DmEvent],
    b_events: &[DmEvent],
) {
    assert_eq!(f.drain(a), a_events);
    assert_eq!(f.drain(b), b_events);
    for ep in [a, b] {
        assert_eq!(f.endpoint(ep).unwrap().qp_state(), QpState::Error);
    }
}

#[test]
fn test_endpoints_have_distinct_bases_and_regions() {
    let (mut f, a, b) = small();
    let (c, d) = f.connect_pair_sized(16, 32);
    assert_eq!(f.base_addr(a), Some(BASE_ADDR));
    assert_eq!(f.base_addr(b), Some(BASE_ADDR + ADDR_STRIDE));
    assert_eq!(f.base_addr(d), Some(BASE_ADDR + 3 * ADDR_STRIDE));
    assert_eq!(f.region(a).len(), 4096);
    assert_eq!(f.region(c).len(), 16);
    assert_eq!(f.region(d).len(), 32);
    assert_eq!(f.peer(a), Some(b));
    assert_eq!(f.peer(d), Some(c));
    assert_eq!(f.endpoint_ids().count(), 4);
}

#[test]
fn test_send_recv_fifo_and_copy() {
    let (mut f, a, b) = small();
    f.post(b, recv(1, 0, 100)).unwrap();
    f.post(b, recv(2, 100, 100)).unwrap();
    f.post(b, recv(3, 200, 100)).unwrap();
    fill(&mut f, a, 1000, b"hello");
    fill(&mut f, a, 2000, b"iSER!!");
    f.post(a, send(10, 1000, 5)).unwrap();
    f.post(a, send(11, 2000, 6)).unwrap();
    assert_eq!(
        f.drain(a),
        [done(10, WcStatus::Success), done(11, WcStatus::Success)]
    );
    assert_eq!(
        f.drain(b),
        [
            DmEvent::Recv {
                id: WrId(1),
                len: 5,
                invalidated: None
            },
            DmEvent::Recv {
                id: WrId(2),
                len: 6,
                invalidated: None
            },
        ]
    );
    assert_eq!(&f.region(b)[0..5], b"hello");
    assert_eq!(&f.region(b)[100..106], b"iSER!!");
    // Bytes past the message are untouched.
    assert_eq!(f.region(b)[5], 0);
    assert_eq!(f.endpoint(b).unwrap().posted_recvs(), 1);
    let c = f.counters(a);
    assert_eq!((c.sends, c.send_bytes), (2, 11));
    assert_eq!(f.counters(b).recvs_completed, 2);
}

#[test]
fn test_send_both_directions_and_zero_length() {
    let (mut f, a, b) = small();
    f.post(a, recv(1, 0, 8)).unwrap();
    f.post(b, recv(2, 0, 0)).unwrap();
    f.post(a, send(3, 8, 0)).unwrap();
    // `a` sent into `b`'s zero-length receive, which fits.
    assert_eq!(
        f.drain(b),
        [DmEvent::Recv {
            id: WrId(2),
            len: 0,
            invalidated: None
        }]
    );
    f.post(b, send(4, 0, 8)).unwrap();
    assert_eq!(
        f.drain(a),
        [
            done(3, WcStatus::Success),
            DmEvent::Recv {
                id: WrId(1),
                len: 8,
                invalidated: None
            }
        ]
    );
    assert_eq!(f.drain(b), [done(4, WcStatus::Success)]);
}

#[test]
fn test_receiver_not_ready_breaks_the_pair() {
    let (mut f, a, b) = small();
    f.post(a, recv(1, 0, 64)).unwrap();
    f.post(a, send(2, 64, 8)).unwrap();
    assert_broken(
        &mut f,
        a,
        b,
        &[
            done(2, WcStatus::ReceiverNotReady),
            recv_error(1, WcStatus::Flushed),
            DmEvent::Disconnected,
        ],
        &[DmEvent::Disconnected],
    );
    // Later work requests flush, on either side; no second `Disconnected`.
    f.post(b, recv(3, 0, 8)).unwrap();
    f.post(b, send(4, 0, 8)).unwrap();
    f.post(a, DmOp::Disconnect).unwrap();
    assert_eq!(
        f.drain(b),
        [recv_error(3, WcStatus::Flushed), done(4, WcStatus::Flushed)]
    );
    assert!(f.drain(a).is_empty());
    assert_eq!(f.counters(b).flushed, 2);
    assert_eq!(f.counters(a).errors, 1);
}

#[test]
fn test_overlong_message_is_a_length_error() {
    let (mut f, a, b) = small();
    f.post(b, recv(1, 0, 16)).unwrap();
    f.post(b, recv(2, 16, 64)).unwrap();
    f.region_mut(a)[..17].fill(0xee);
    f.post(a, send(3, 0, 17)).unwrap();
    assert_broken(
        &mut f,
        a,
        b,
        &[done(3, WcStatus::Other), DmEvent::Disconnected],
        &[
            recv_error(1, WcStatus::Other),
            recv_error(2, WcStatus::Flushed),
            DmEvent::Disconnected,
        ],
    );
    assert!(f.region(b).iter().all(|&x| x == 0), "nothing was placed");
}

#[test]
fn test_send_with_invalidate() {
    let (mut f, a, b) = small();
    let stag = f.register(b, 1024, 512, Access::WRITE).unwrap();
    let other = f.register(b, 0, 16, Access::READ).unwrap();
    f.post(b, recv(1, 0, 64)).unwrap();
    f.post(
        a,
        DmOp::Send {
            id: WrId(2),
            buf: buf(0, 48),
            invalidate: Some(stag.0),
        },
    )
    .unwrap();
    assert_eq!(
        f.drain(b),
        [DmEvent::Recv {
            id: WrId(1),
            len: 48,
            invalidated: Some(stag.0)
        }]
    );
    assert_eq!(f.drain(a), [done(2, WcStatus::Success)]);
    assert!(!f.is_valid(b, stag));
    assert_eq!(f.valid_stags(b), [other]);
    assert_eq!(f.counters(b).invalidations, 1);
    // The invalidated STag no longer opens the memory.
    f.post(
        a,
        DmOp::RdmaWrite {
            id: WrId(3),
            buf: buf(0, 4),
            remote: RemoteBuf {
                stag: stag.0,
                addr: BASE_ADDR + ADDR_STRIDE + 1024,
            },
        },
    )
    .unwrap();
    assert_eq!(f.poll(a), Some(done(3, WcStatus::RemoteAccess)));
}

#[test]
fn test_send_with_invalidate_of_unknown_stag_breaks_the_pair() {
    let (mut f, a, b) = small();
    // An STag of the sender itself is not the receiver's.
    let own = f.register(a, 0, 16, Access::READ_WRITE).unwrap();
    f.post(b, recv(1, 0, 64)).unwrap();
    f.post(
        a,
        DmOp::Send {
            id: WrId(2),
            buf: buf(0, 8),
            invalidate: Some(own.0),
        },
    )
    .unwrap();
    assert_broken(
        &mut f,
        a,
        b,
        &[done(2, WcStatus::RemoteAccess), DmEvent::Disconnected],
        &[recv_error(1, WcStatus::Other), DmEvent::Disconnected],
    );
    assert!(f.is_valid(a, own));
}

fn rdma_write(id: u64, local: BufRef, stag: Stag, addr: u64) -> DmOp {
    DmOp::RdmaWrite {
        id: WrId(id),
        buf: local,
        remote: RemoteBuf { stag: stag.0, addr },
    }
}

fn rdma_read(id: u64, local: BufRef, stag: Stag, addr: u64) -> DmOp {
    DmOp::RdmaRead {
        id: WrId(id),
        buf: local,
        remote: RemoteBuf { stag: stag.0, addr },
    }
}

#[test]
fn test_rdma_write_and_read_absolute() {
    let (mut f, a, b) = small();
    let w = f.register_remote(b, 1000, 100, Access::WRITE).unwrap();
    let r = f.register_remote(b, 2000, 100, Access::READ).unwrap();
    assert_eq!(w.addr, BASE_ADDR + ADDR_STRIDE + 1000);
    fill(&mut f, a, 0, b"scsi read data");
    fill(&mut f, b, 2050, b"scsi write data");
    f.post(a, rdma_write(1, buf(0, 14), Stag(w.stag), w.addr + 86))
        .unwrap();
    f.post(a, rdma_read(2, buf(100, 15), Stag(r.stag), r.addr + 50))
        .unwrap();
    assert_eq!(
        f.drain(a),
        [done(1, WcStatus::Success), done(2, WcStatus::Success)]
    );
    assert!(f.drain(b).is_empty(), "RDMA is invisible to the peer");
    assert_eq!(&f.region(b)[1086..1100], b"scsi read data");
    assert_eq!(&f.region(a)[100..115], b"scsi write data");
    let c = f.counters(a);
    assert_eq!(
        (
            c.rdma_writes,
            c.rdma_write_bytes,
            c.rdma_reads,
            c.rdma_read_bytes
        ),
        (1, 14, 1, 15)
    );
    assert_eq!(c.bytes_moved(), 29);
}

#[test]
fn test_rdma_zero_based() {
    let (mut f, a, b) = Fabric::pair(FabricConfig {
        region_len: 4096,
        zero_based: true,
        ..FabricConfig::default()
    });
    let w = f.register_remote(b, 1000, 100, Access::READ_WRITE).unwrap();
    assert_eq!(w.addr, 0);
    fill(&mut f, a, 0, b"abc");
    f.post(a, rdma_write(1, buf(0, 3), Stag(w.stag), 97))
        .unwrap();
    assert_eq!(&f.region(b)[1097..1100], b"abc");
    // The absolute address is now outside the registration.
    f.post(
        a,
        rdma_write(2, buf(0, 3), Stag(w.stag), BASE_ADDR + ADDR_STRIDE + 1000),
    )
    .unwrap();
    assert_eq!(
        f.drain(a),
        [
            done(1, WcStatus::Success),
            done(2, WcStatus::RemoteAccess),
            DmEvent::Disconnected
        ]
    );
}

/// Each violation fails alone on a fresh pair: `RemoteAccess`, both QPs in error, no byte moved.
#[test]
fn test_rdma_violations() {
    let b_base = BASE_ADDR + ADDR_STRIDE;
    // (description, local buffer, which STag, address, write?)
    let cases: &[(&str, BufRef, usize, u64, bool)] = &[
        ("write one byte before", buf(0, 4), 0, b_base + 999, true),
        (
            "write one byte past the end",
            buf(0, 4),
            0,
            b_base + 1097,
            true,
        ),
        (
            "write longer than the registration",
            buf(0, 101),
            0,
            b_base + 1000,
            true,
        ),
        (
            "write at an address wrapping u64",
            buf(0, 4),
            0,
            u64::MAX - 1,
            true,
        ),
        (
            "read a write-only registration",
            buf(0, 4),
            0,
            b_base + 1000,
            false,
        ),
        (
            "write a read-only registration",
            buf(0, 4),
            1,
            b_base + 2000,
            true,
        ),
        ("read past the end", buf(0, 2), 1, b_base + 2099, false),
        (
            "zero-length read past the end",
            buf(0, 0),
            1,
            b_base + 2101,
            false,
        ),
        ("write with no access", buf(0, 1), 2, b_base + 3000, true),
        ("read with no access", buf(0, 1), 2, b_base + 3000, false),
        (
            "write with an invalidated STag",
            buf(0, 1),
            3,
            b_base + 1000,
            true,
        ),
        (
            "write with a never issued STag",
            buf(0, 1),
            4,
            b_base + 1000,
            true,
        ),
        (
            "write with the requester's own STag",
            buf(0, 1),
            5,
            BASE_ADDR,
            true,
        ),
    ];
    for &(what, local, which, addr, write) in cases {
        let (mut f, a, b) = small();
        f.region_mut(a).fill(0xaa);
        f.region_mut(b).fill(0xbb);
        let stags = [
            f.register(b, 1000, 100, Access::WRITE).unwrap(),
            f.register(b, 2000, 100, Access::READ).unwrap(),
            f.register(b, 3000, 100, Access::NONE).unwrap(),
            {
                let s = f.register(b, 1000, 100, Access::WRITE).unwrap();
                f.invalidate(b, s).unwrap();
                s
            },
            Stag(0x0bad_0bad),
            f.register(a, 0, 100, Access::READ_WRITE).unwrap(),
        ];
        f.post(b, recv(9, 0, 10)).unwrap();
        let op = if write {
            rdma_write(1, local, stags[which], addr)
        } else {
            rdma_read(1, local, stags[which], addr)
        };
        f.post(a, op).unwrap();
        assert_eq!(
            f.drain(a),
            [done(1, WcStatus::RemoteAccess), DmEvent::Disconnected],
            "{what}"
        );
        assert_eq!(
            f.drain(b),
            [recv_error(9, WcStatus::Flushed), DmEvent::Disconnected],
            "{what}"
        );
        assert!(f.region(a).iter().all(|&x| x == 0xaa), "{what}");
        assert!(f.region(b).iter().all(|&x| x == 0xbb), "{what}");
    }
}

#[test]
fn test_local_buffer_outside_region() {
    for op in [
        send(1, 4090, 7),
        rdma_write(1, buf(u32::MAX, 1), Stag(1), 0),
        rdma_read(1, buf(0, 4097), Stag(1), 0),
    ] {
        let (mut f, a, b) = small();
        f.post(b, recv(2, 0, 100)).unwrap();
        f.post(a, op).unwrap();
        assert_broken(
            &mut f,
            a,
            b,
            &[done(1, WcStatus::Other), DmEvent::Disconnected],
            &[recv_error(2, WcStatus::Flushed), DmEvent::Disconnected],
        );
    }
    let (mut f, a, b) = small();
    f.post(a, recv(1, 4000, 97)).unwrap();
    assert_broken(
        &mut f,
        a,
        b,
        &[recv_error(1, WcStatus::Other), DmEvent::Disconnected],
        &[DmEvent::Disconnected],
    );
}

#[test]
fn test_register_checks_the_region() {
    let (mut f, a, _b) = small();
    assert_eq!(
        f.register(a, 4000, 97, Access::READ),
        Err(FabricError::OutOfRegion)
    );
    assert_eq!(
        f.register(a, u32::MAX, 2, Access::READ),
        Err(FabricError::OutOfRegion)
    );
    assert!(f.register(a, 4000, 96, Access::READ).is_ok());
    assert_eq!(f.invalidate(a, Stag(7)), Err(FabricError::UnknownStag));
}

#[test]
fn test_stags_are_fresh_nonzero_and_never_reused() {
    let (mut f, a, b) = Fabric::pair(FabricConfig {
        region_len: 64,
        first_stag: 0,
        ..FabricConfig::default()
    });
    let mut seen = std::collections::HashSet::new();
    let mut last = None;
    for i in 0..2000u32 {
        let ep = if i % 2 == 0 { a } else { b };
        let s = f.register(ep, 0, 64, Access::READ_WRITE).unwrap();
        assert_ne!(s.0, 0);
        assert!(seen.insert(s), "{s:?} handed out twice");
        if let Some(old) = last.replace((ep, s)) {
            if i % 3 == 0 {
                f.invalidate(old.0, old.1).unwrap();
                assert!(!f.is_valid(old.0, old.1));
            }
        }
    }
    let held: usize = [a, b].iter().map(|&ep| f.valid_stags(ep).len()).sum();
    assert_eq!(held, 2000 - 666);
    assert_eq!(f.total_counters().registrations, 2000);
    assert_eq!(f.total_counters().invalidations, 666);
}

#[test]
fn test_disconnect_flushes_both_sides() {
    let (mut f, a, b) = small();
    f.post(a, recv(1, 0, 8)).unwrap();
    f.post(a, recv(2, 8, 8)).unwrap();
    f.post(b, recv(3, 0, 8)).unwrap();
    f.post(b, DmOp::Disconnect).unwrap();
    assert_broken(
        &mut f,
        a,
        b,
        &[
            recv_error(1, WcStatus::Flushed),
            recv_error(2, WcStatus::Flushed),
            DmEvent::Disconnected,
        ],
        &[recv_error(3, WcStatus::Flushed), DmEvent::Disconnected],
    );
    assert_eq!(f.counters(b).disconnects, 1);
    assert_eq!(f.total_counters().errors, 0);
    assert_eq!(f.total_counters().flushed, 3);
}

#[test]
fn test_recv_queue_depth() {
    let (mut f, a, b) = Fabric::pair(FabricConfig {
        region_len: 64,
        max_recv_wr: 2,
        ..FabricConfig::default()
    });
    f.post(a, recv(1, 0, 8)).unwrap();
    f.post(a, recv(2, 8, 8)).unwrap();
    assert_eq!(f.post(a, recv(3, 16, 8)), Err(FabricError::RecvQueueFull));
    f.post(b, send(4, 0, 8)).unwrap();
    f.post(a, recv(3, 16, 8)).unwrap();
    assert_eq!(f.endpoint(a).unwrap().posted_recvs(), 2);
    assert_eq!(f.counters(a).recvs_posted, 3);
}

#[test]
fn test_foreign_endpoint_id_is_refused() {
    let (mut big, _, _) = small();
    let (_, _) = big.connect_pair();
    let (c, _d) = big.connect_pair();
    let (mut f, _a, _b) = small();
    assert_eq!(f.post(c, recv(1, 0, 1)), Err(FabricError::NoSuchEndpoint));
    assert_eq!(
        f.register(c, 0, 1, Access::READ),
        Err(FabricError::NoSuchEndpoint)
    );
    assert_eq!(f.poll(c), None);
    assert!(f.region_mut(c).is_empty());
    assert!(f.endpoint(c).is_none());
}
