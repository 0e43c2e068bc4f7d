//! Fault injection in the in-memory RC fabric: dropped connections, work requests completing in
//! error, completions held back to reorder a Send's completion against the peer's Recv.

use host_tests::fabric::{Access, Fabric, FabricConfig, FabricError, Fault, QpState};
use iser_core::dm::{BufRef, DmEvent, DmOp, RemoteBuf, WcStatus, WrId};

fn recv(id: u64, offset: u32, len: u32) -> DmOp {
    DmOp::PostRecv {
        id: WrId(id),
        buf: BufRef { offset, len },
    }
}

fn send(id: u64, offset: u32, len: u32) -> DmOp {
    DmOp::Send {
        id: WrId(id),
        buf: BufRef { offset, len },
        invalidate: None,
    }
}

fn done(id: u64, status: WcStatus) -> DmEvent {
    DmEvent::Done {
        id: WrId(id),
        status,
    }
}

fn received(id: u64, len: u32) -> DmEvent {
    DmEvent::Recv {
        id: WrId(id),
        len,
        invalidated: None,
    }
}

fn flushed_recv(id: u64) -> DmEvent {
    DmEvent::RecvError {
        id: WrId(id),
        status: WcStatus::Flushed,
    }
}

fn config() -> FabricConfig {
    FabricConfig {
        region_len: 1024,
        ..FabricConfig::default()
    }
}

#[test]
fn test_drop_connection() {
    let (mut f, a, b) = Fabric::pair(config());
    f.post(a, recv(1, 0, 8)).unwrap();
    f.post(b, recv(2, 0, 8)).unwrap();
    f.inject(Fault::DropConnection { endpoint: b }).unwrap();
    assert_eq!(f.drain(a), [flushed_recv(1), DmEvent::Disconnected]);
    assert_eq!(f.drain(b), [flushed_recv(2), DmEvent::Disconnected]);
    // Dropping again reports nothing new; later posts flush.
    f.inject(Fault::DropConnection { endpoint: a }).unwrap();
    f.post(a, send(3, 0, 8)).unwrap();
    assert_eq!(f.drain(a), [done(3, WcStatus::Flushed)]);
    assert!(f.drain(b).is_empty());
}

#[test]
fn test_fail_next_send() {
    let (mut f, a, b) = Fabric::pair(config());
    f.post(b, recv(1, 0, 64)).unwrap();
    f.region_mut(a)[..8].fill(7);
    f.inject(Fault::FailNext {
        endpoint: a,
        kind: WcStatus::ReceiverNotReady,
    })
    .unwrap();
    f.post(a, send(2, 0, 8)).unwrap();
    assert_eq!(
        f.drain(a),
        [done(2, WcStatus::ReceiverNotReady), DmEvent::Disconnected]
    );
    assert_eq!(f.drain(b), [flushed_recv(1), DmEvent::Disconnected]);
    assert!(f.region(b).iter().all(|&x| x == 0), "no data moved");
    assert_eq!(f.counters(a).send_bytes, 0);
}

#[test]
fn test_fail_next_applies_once_and_to_receives_too() {
    let (mut f, a, b) = Fabric::pair(config());
    f.inject(Fault::FailNext {
        endpoint: b,
        kind: WcStatus::Success,
    })
    .unwrap();
    f.post(b, recv(1, 0, 8)).unwrap();
    assert_eq!(
        f.drain(b),
        [
            DmEvent::RecvError {
                id: WrId(1),
                status: WcStatus::Other
            },
            DmEvent::Disconnected
        ]
    );
    assert_eq!(f.drain(a), [DmEvent::Disconnected]);

    // On a fresh pair the fault hits only the next work request of its endpoint.
    let (c, d) = f.connect_pair();
    let remote = f.register_remote(d, 0, 16, Access::READ).unwrap();
    f.post(d, recv(10, 0, 8)).unwrap();
    f.inject(Fault::FailNext {
        endpoint: c,
        kind: WcStatus::RemoteAccess,
    })
    .unwrap();
    f.post(
        c,
        DmOp::RdmaRead {
            id: WrId(11),
            buf: BufRef { offset: 0, len: 8 },
            remote,
        },
    )
    .unwrap();
    f.post(c, send(12, 0, 8)).unwrap();
    assert_eq!(
        f.drain(c),
        [
            done(11, WcStatus::RemoteAccess),
            DmEvent::Disconnected,
            done(12, WcStatus::Flushed)
        ]
    );
    assert_eq!(f.drain(d), [flushed_recv(10), DmEvent::Disconnected]);
}

#[test]
fn test_delay_shows_the_peer_recv_before_the_send_completion() {
    let (mut f, a, b) = Fabric::pair(config());
    for i in 0..4 {
        f.post(b, recv(i, i as u32 * 16, 16)).unwrap();
    }
    f.inject(Fault::Delay {
        endpoint: a,
        ops: 1,
    })
    .unwrap();
    f.post(a, send(10, 0, 4)).unwrap();
    // Not delayed itself, but must stay behind the held completion (send-queue order).
    f.post(a, send(11, 0, 4)).unwrap();
    assert_eq!(f.drain(b), [received(0, 4), received(1, 4)]);
    assert_eq!(f.poll(a), None);
    assert_eq!(f.endpoint(a).unwrap().held_events(), 2);
    assert!(!f.is_idle());
    // The peer answers before the sender hears of its Send.
    f.post(a, recv(20, 100, 16)).unwrap();
    f.post(b, send(30, 0, 4)).unwrap();
    assert_eq!(f.drain(a), [received(20, 4)]);
    assert_eq!(f.release(a), 2);
    assert_eq!(
        f.drain(a),
        [done(10, WcStatus::Success), done(11, WcStatus::Success)]
    );
    f.post(a, send(12, 0, 4)).unwrap();
    assert_eq!(f.drain(a), [done(12, WcStatus::Success)]);
    assert_eq!(f.drain(b), [done(30, WcStatus::Success), received(2, 4)]);
    assert!(f.is_idle());
}

#[test]
fn test_release_cancels_the_rest_of_a_delay() {
    let (mut f, a, b) = Fabric::pair(config());
    f.post(b, recv(1, 0, 16)).unwrap();
    f.post(b, recv(2, 0, 16)).unwrap();
    f.inject(Fault::Delay {
        endpoint: a,
        ops: 5,
    })
    .unwrap();
    f.post(a, send(3, 0, 1)).unwrap();
    assert_eq!(f.release_all(), 1);
    f.post(a, send(4, 0, 1)).unwrap();
    assert_eq!(
        f.drain(a),
        [done(3, WcStatus::Success), done(4, WcStatus::Success)]
    );
}

#[test]
fn test_held_completions_survive_a_broken_connection() {
    let (mut f, a, b) = Fabric::pair(config());
    f.post(b, recv(1, 0, 16)).unwrap();
    f.post(a, recv(2, 0, 16)).unwrap();
    f.inject(Fault::Delay {
        endpoint: a,
        ops: 1,
    })
    .unwrap();
    f.post(a, send(3, 0, 1)).unwrap();
    // Receiver not ready: the failure queues behind the held success.
    f.post(a, send(4, 0, 1)).unwrap();
    assert_eq!(f.drain(a), [flushed_recv(2), DmEvent::Disconnected]);
    assert_eq!(f.drain(b), [received(1, 1), DmEvent::Disconnected]);
    assert_eq!(f.release(a), 2);
    assert_eq!(
        f.drain(a),
        [
            done(3, WcStatus::Success),
            done(4, WcStatus::ReceiverNotReady)
        ]
    );
    assert_eq!(f.endpoint(a).unwrap().qp_state(), QpState::Error);
}

#[test]
fn test_pairs_fail_independently() {
    let mut f = Fabric::new(config());
    let (a, b) = f.connect_pair();
    let (c, d) = f.connect_pair();
    f.post(a, send(1, 0, 4)).unwrap(); // receiver not ready
    assert_eq!(
        f.drain(a),
        [done(1, WcStatus::ReceiverNotReady), DmEvent::Disconnected]
    );
    assert_eq!(f.drain(b), [DmEvent::Disconnected]);
    f.post(d, recv(2, 0, 4)).unwrap();
    f.post(c, send(3, 0, 4)).unwrap();
    assert_eq!(f.drain(c), [done(3, WcStatus::Success)]);
    assert_eq!(f.drain(d), [received(2, 4)]);
    assert_eq!(f.endpoint(c).unwrap().qp_state(), QpState::Ready);
}

#[test]
fn test_rdma_bytes_and_op_counters() {
    let (mut f, a, b) = Fabric::pair(config());
    let w = f.register_remote(b, 0, 512, Access::READ_WRITE).unwrap();
    for (i, len) in [1u32, 100, 411].into_iter().enumerate() {
        f.post(
            a,
            DmOp::RdmaWrite {
                id: WrId(i as u64),
                buf: BufRef { offset: 0, len },
                remote: w,
            },
        )
        .unwrap();
        f.post(
            a,
            DmOp::RdmaRead {
                id: WrId(100 + i as u64),
                buf: BufRef { offset: 512, len },
                remote: RemoteBuf {
                    stag: w.stag,
                    addr: w.addr + 512 - u64::from(len),
                },
            },
        )
        .unwrap();
    }
    let c = f.counters(a);
    assert_eq!((c.rdma_writes, c.rdma_reads), (3, 3));
    assert_eq!((c.rdma_write_bytes, c.rdma_read_bytes), (512, 512));
    assert_eq!(f.total_counters().bytes_moved(), 1024);
    assert_eq!(f.drain(a).len(), 6);
}

#[test]
fn test_inject_on_a_foreign_endpoint() {
    let mut big = Fabric::new(config());
    big.connect_pair();
    let (foreign, _) = big.connect_pair();
    let (mut f, _a, _b) = Fabric::pair(config());
    for fault in [
        Fault::DropConnection { endpoint: foreign },
        Fault::FailNext {
            endpoint: foreign,
            kind: WcStatus::Other,
        },
        Fault::Delay {
            endpoint: foreign,
            ops: 1,
        },
    ] {
        assert_eq!(f.inject(fault), Err(FabricError::NoSuchEndpoint));
    }
}

#[test]
fn test_fail_next_with_flushed_still_breaks_the_pair() {
    let (mut f, a, b) = Fabric::pair(config());
    f.post(b, recv(1, 0, 8)).unwrap();
    f.inject(Fault::FailNext {
        endpoint: a,
        kind: WcStatus::Flushed,
    })
    .unwrap();
    f.post(a, send(2, 0, 8)).unwrap();
    assert_eq!(
        f.drain(a),
        [done(2, WcStatus::Flushed), DmEvent::Disconnected]
    );
    assert_eq!(f.drain(b), [flushed_recv(1), DmEvent::Disconnected]);
}
