//! Tests of the NIC-queue datamover: delivery, bounds, ordering, flushes, full rings.

use super::*;
use iser_core::dm::RemoteBuf;
use std::vec;
use std::vec::Vec;

type L<'r> = Link<'r, 4, 9, 4>;

fn regions() -> (Vec<u8>, Vec<u8>) {
    (vec![0u8; 4096], vec![0u8; 4096])
}

fn b(offset: u32, len: u32) -> BufRef {
    BufRef { offset, len }
}

fn drain<const Q: usize, const CQ: usize, const M: usize>(
    e: &mut Endpoint<'_, Q, CQ, M>,
) -> Vec<DmEvent> {
    core::iter::from_fn(|| e.poll()).collect()
}

#[test]
fn test_send_lands_in_oldest_receive_in_order() {
    let (mut ra, mut rb) = regions();
    let mut l = L::new(&mut ra, &mut rb);
    l.b.post(DmOp::PostRecv {
        id: WrId(1),
        buf: b(0, 100),
    })
    .unwrap();
    l.b.post(DmOp::PostRecv {
        id: WrId(2),
        buf: b(100, 100),
    })
    .unwrap();
    l.a.region_mut()[..6].copy_from_slice(b"hello!");
    l.a.post(DmOp::Send {
        id: WrId(10),
        buf: b(0, 5),
        invalidate: None,
    })
    .unwrap();
    l.a.post(DmOp::Send {
        id: WrId(11),
        buf: b(1, 5),
        invalidate: None,
    })
    .unwrap();
    assert_eq!(l.process(), 0, "nothing runs before the doorbell");
    l.a.ring_doorbell();
    assert_eq!(l.process(), 2);
    assert_eq!(
        drain(&mut l.a),
        [
            DmEvent::Done {
                id: WrId(10),
                status: WcStatus::Success
            },
            DmEvent::Done {
                id: WrId(11),
                status: WcStatus::Success
            }
        ]
    );
    assert_eq!(
        drain(&mut l.b),
        [
            DmEvent::Recv {
                id: WrId(1),
                len: 5,
                invalidated: None
            },
            DmEvent::Recv {
                id: WrId(2),
                len: 5,
                invalidated: None
            }
        ]
    );
    assert_eq!(&l.b.region()[..5], b"hello");
    assert_eq!(&l.b.region()[100..105], b"ello!");
}

#[test]
fn test_send_without_receive_breaks_both_and_flushes() {
    let (mut ra, mut rb) = regions();
    let mut l = L::new(&mut ra, &mut rb);
    l.a.post(DmOp::PostRecv {
        id: WrId(7),
        buf: b(0, 100),
    })
    .unwrap();
    l.a.post(DmOp::Send {
        id: WrId(1),
        buf: b(0, 5),
        invalidate: None,
    })
    .unwrap();
    l.a.post(DmOp::Send {
        id: WrId(2),
        buf: b(0, 5),
        invalidate: None,
    })
    .unwrap();
    l.a.ring_doorbell();
    l.process();
    assert_eq!(
        drain(&mut l.a),
        [
            DmEvent::Done {
                id: WrId(1),
                status: WcStatus::ReceiverNotReady
            },
            DmEvent::RecvError {
                id: WrId(7),
                status: WcStatus::Flushed
            },
            DmEvent::Done {
                id: WrId(2),
                status: WcStatus::Flushed
            },
            DmEvent::Disconnected
        ]
    );
    assert_eq!(drain(&mut l.b), [DmEvent::Disconnected]);
    assert_eq!(l.a.state(), QpState::Error);
    // Work posted after the error is flushed too.
    l.b.post(DmOp::PostRecv {
        id: WrId(3),
        buf: b(0, 1),
    })
    .unwrap();
    l.process();
    assert_eq!(
        drain(&mut l.b),
        [DmEvent::RecvError {
            id: WrId(3),
            status: WcStatus::Flushed
        }]
    );
}

#[test]
fn test_rdma_by_stag_with_bounds_and_access() {
    let (mut ra, mut rb) = regions();
    let mut l = L::new(&mut ra, &mut rb);
    l.a.region_mut()[200..204].copy_from_slice(&[1, 2, 3, 4]);
    let read_me = l.a.mrs.register(b(200, 4), true, false).unwrap();
    let write_me = l.a.mrs.register(b(300, 4), false, true).unwrap();
    l.b.post(DmOp::RdmaRead {
        id: WrId(1),
        buf: b(10, 4),
        remote: read_me,
    })
    .unwrap();
    l.b.region_mut()[20..24].copy_from_slice(&[9, 8, 7, 6]);
    l.b.post(DmOp::RdmaWrite {
        id: WrId(2),
        buf: b(20, 4),
        remote: write_me,
    })
    .unwrap();
    l.b.ring_doorbell();
    l.process();
    assert_eq!(&l.b.region()[10..14], &[1, 2, 3, 4]);
    assert_eq!(&l.a.region()[300..304], &[9, 8, 7, 6]);
    assert_eq!(drain(&mut l.b).len(), 2);
    // One byte past the registration: remote access error, connection gone.
    let past = RemoteBuf {
        stag: write_me.stag,
        addr: write_me.addr + 1,
    };
    l.b.post(DmOp::RdmaWrite {
        id: WrId(3),
        buf: b(20, 4),
        remote: past,
    })
    .unwrap();
    l.b.ring_doorbell();
    l.process();
    assert_eq!(
        drain(&mut l.b)[0],
        DmEvent::Done {
            id: WrId(3),
            status: WcStatus::RemoteAccess
        }
    );
    assert_eq!(&l.a.region()[300..305], &[9, 8, 7, 6, 0]);
}

#[test]
fn test_rdma_wrong_direction_is_refused() {
    let (mut ra, mut rb) = regions();
    let mut l = L::new(&mut ra, &mut rb);
    let read_only = l.a.mrs.register(b(0, 16), true, false).unwrap();
    l.b.post(DmOp::RdmaWrite {
        id: WrId(1),
        buf: b(0, 4),
        remote: read_only,
    })
    .unwrap();
    l.b.ring_doorbell();
    l.process();
    assert_eq!(
        drain(&mut l.b)[0],
        DmEvent::Done {
            id: WrId(1),
            status: WcStatus::RemoteAccess
        }
    );
}

#[test]
fn test_send_with_invalidate_removes_peer_stag() {
    let (mut ra, mut rb) = regions();
    let mut l = L::new(&mut ra, &mut rb);
    let r = l.a.mrs.register(b(0, 16), false, true).unwrap();
    l.a.post(DmOp::PostRecv {
        id: WrId(1),
        buf: b(100, 64),
    })
    .unwrap();
    l.b.post(DmOp::Send {
        id: WrId(2),
        buf: b(0, 8),
        invalidate: Some(r.stag),
    })
    .unwrap();
    l.b.ring_doorbell();
    l.process();
    assert_eq!(
        drain(&mut l.a),
        [DmEvent::Recv {
            id: WrId(1),
            len: 8,
            invalidated: Some(r.stag)
        }]
    );
    assert_eq!(l.a.mrs.valid(), 0);
}

#[test]
fn test_full_rings_are_reported_not_fatal() {
    let (mut ra, mut rb) = regions();
    let mut l = L::new(&mut ra, &mut rb);
    for i in 0..4 {
        l.b.post(DmOp::PostRecv {
            id: WrId(i),
            buf: b(0, 64),
        })
        .unwrap();
    }
    assert_eq!(
        l.b.post(DmOp::PostRecv {
            id: WrId(9),
            buf: b(0, 64)
        }),
        Err(PostError::RecvQueueFull)
    );
    for i in 0..4 {
        l.a.post(DmOp::Send {
            id: WrId(i),
            buf: b(0, 1),
            invalidate: None,
        })
        .unwrap();
    }
    let op = DmOp::Send {
        id: WrId(9),
        buf: b(0, 1),
        invalidate: None,
    };
    assert_eq!(l.a.post(op), Err(PostError::SendQueueFull));
    assert_eq!(l.a.counters.ring_full, 1);
    l.a.ring_doorbell();
    l.process();
    assert_eq!(l.a.state(), QpState::Ready);
    assert_eq!(
        l.a.post(op),
        Ok(()),
        "room again once the NIC consumed the ring"
    );
}

#[test]
fn test_completion_ring_full_stalls_then_resumes() {
    let (mut ra, mut rb) = regions();
    let mut l: Link<'_, 4, 2, 1> = Link::new(&mut ra, &mut rb);
    for i in 0..4 {
        l.b.post(DmOp::PostRecv {
            id: WrId(i),
            buf: b(0, 64),
        })
        .unwrap();
        l.a.post(DmOp::Send {
            id: WrId(i),
            buf: b(0, 1),
            invalidate: None,
        })
        .unwrap();
    }
    l.a.ring_doorbell();
    assert_eq!(l.process(), 2, "two completions fit");
    assert!(l.a.counters.cq_stalls > 0);
    drain(&mut l.a);
    drain(&mut l.b);
    assert_eq!(l.process(), 2);
    assert_eq!(drain(&mut l.a).len(), 2);
    assert_eq!(l.a.state(), QpState::Ready);
}
