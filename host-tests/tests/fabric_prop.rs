//! Property test of the in-memory RC fabric: random sequences of work requests, registrations
//! and faults over several QP pairs. Every posted work request completes exactly once, in
//! send-queue order, with receives consumed first in first out; memory changes only where a
//! successful operation was allowed to write (a registration valid at the time, with the right
//! access, holding the whole range), and holds exactly the source bytes.

// Test harness helpers outside `#[test]` functions: failing loudly is their job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{HashMap, HashSet, VecDeque};

use host_tests::fabric::{Access, EndpointId, Fabric, FabricConfig, Fault, QpState, Stag};
use iser_core::dm::{BufRef, DmEvent, DmOp, RemoteBuf, WcStatus, WrId};
use proptest::prelude::*;

const REGION: u32 = 96;

#[derive(Clone, Debug)]
enum Op {
    PostRecv {
        side: bool,
        offset: u32,
        len: u32,
    },
    /// With `prepost`, a 48-byte receive is posted on the peer first.
    Send {
        side: bool,
        offset: u32,
        len: u32,
        invalidate: Option<usize>,
        prepost: bool,
    },
    Write {
        side: bool,
        offset: u32,
        len: u32,
        stag: usize,
        delta: i64,
    },
    Read {
        side: bool,
        offset: u32,
        len: u32,
        stag: usize,
        delta: i64,
    },
    Register {
        side: bool,
        offset: u32,
        len: u32,
        read: bool,
        write: bool,
    },
    Invalidate {
        side: bool,
        stag: usize,
    },
    Disconnect {
        side: bool,
    },
    Drop {
        side: bool,
    },
    FailNext {
        side: bool,
        kind: u8,
    },
    Delay {
        side: bool,
        ops: usize,
    },
    Release {
        side: bool,
    },
    Scribble {
        side: bool,
        seed: u8,
    },
    NewPair,
    /// A new pair if the current one is broken.
    Reconnect,
}

/// A region offset: mostly one leaving room for the length, sometimes anything (even past the end).
fn offset(room: u32) -> impl Strategy<Value = u32> {
    prop_oneof![9 => 0..REGION - room, 1 => 0..REGION + 8]
}

/// A length: mostly short, sometimes up to half the region.
fn length(short: std::ops::Range<u32>) -> impl Strategy<Value = u32> {
    prop_oneof![9 => short, 1 => 0..REGION / 2]
}

/// Picks an STag: mostly one valid at the peer, sometimes any handed out, or a bogus one.
fn stag_pick() -> impl Strategy<Value = usize> {
    any::<usize>()
}

/// An address delta from the registration's first byte: mostly inside, sometimes around it.
fn delta() -> impl Strategy<Value = i64> {
    prop_oneof![4 => 0i64..16, 1 => -4i64..REGION as i64 + 4]
}

fn op() -> impl Strategy<Value = Op> {
    let side = any::<bool>;
    prop_oneof![
        12 => (side(), offset(48), length(16..48))
            .prop_map(|(side, offset, len)| Op::PostRecv { side, offset, len }),
        10 => (side(), offset(24), length(0..24), proptest::option::weighted(0.2, stag_pick()), proptest::bool::weighted(0.8))
            .prop_map(|(side, offset, len, invalidate, prepost)| Op::Send { side, offset, len, invalidate, prepost }),
        6 => (side(), offset(24), length(0..24), stag_pick(), delta())
            .prop_map(|(side, offset, len, stag, delta)| Op::Write { side, offset, len, stag, delta }),
        6 => (side(), offset(24), length(0..24), stag_pick(), delta())
            .prop_map(|(side, offset, len, stag, delta)| Op::Read { side, offset, len, stag, delta }),
        5 => (side(), offset(48), length(24..48), prop_oneof![2 => Just((true, true)), 1 => any::<(bool, bool)>()])
            .prop_map(|(side, offset, len, (read, write))| Op::Register { side, offset, len, read, write }),
        2 => (side(), stag_pick()).prop_map(|(side, stag)| Op::Invalidate { side, stag }),
        2 => (side(), any::<u8>()).prop_map(|(side, seed)| Op::Scribble { side, seed }),
        1 => side().prop_map(|side| Op::Disconnect { side }),
        1 => side().prop_map(|side| Op::Drop { side }),
        1 => (side(), 0u8..5).prop_map(|(side, kind)| Op::FailNext { side, kind }),
        2 => (side(), 0usize..4).prop_map(|(side, ops)| Op::Delay { side, ops }),
        2 => side().prop_map(|side| Op::Release { side }),
        2 => Just(Op::NewPair),
        4 => Just(Op::Reconnect),
    ]
}

/// What the test remembers of a posted work request.
#[derive(Debug)]
struct Wr {
    recv: bool,
    /// Expected status class: `Some(true)` success, `Some(false)` failure, `None` unknown.
    expect_success: Option<bool>,
    completions: u32,
    /// Whether its completion was a success, once it came.
    success: Option<bool>,
}

struct Harness {
    f: Fabric,
    zero_based: bool,
    pair: (EndpointId, EndpointId),
    next_id: u64,
    wrs: HashMap<(EndpointId, u64), Wr>,
    recv_bufs: HashMap<(EndpointId, u64), BufRef>,
    /// Receives posted and not yet completed, per endpoint, in posting order.
    recv_queues: HashMap<EndpointId, VecDeque<u64>>,
    /// Send-queue work requests not yet completed, per endpoint, in posting order.
    sq: HashMap<EndpointId, VecDeque<u64>>,
    /// Every STag handed out: owner, STag, address of its first byte as the peer names it.
    issued: Vec<(EndpointId, Stag, u64)>,
    fail_pending: HashSet<EndpointId>,
    disconnected: HashSet<EndpointId>,
}

fn wr_status_ok(h: &mut Harness, ep: EndpointId, id: u64, success: bool) {
    let wr = h
        .wrs
        .get_mut(&(ep, id))
        .unwrap_or_else(|| panic!("completion of unknown {ep:?} {id}"));
    wr.completions += 1;
    wr.success = Some(success);
    assert_eq!(wr.completions, 1, "{ep:?} {id} completed twice");
    if let Some(expect) = wr.expect_success {
        assert_eq!(
            success, expect,
            "{ep:?} {id}: success {success}, expected {expect}"
        );
    }
}

impl Harness {
    fn new(zero_based: bool) -> Harness {
        let (f, a, b) = Fabric::pair(FabricConfig {
            region_len: REGION,
            zero_based,
            max_recv_wr: 16,
            ..FabricConfig::default()
        });
        let mut h = Harness {
            f,
            zero_based,
            pair: (a, b),
            next_id: 0,
            wrs: HashMap::new(),
            recv_bufs: HashMap::new(),
            recv_queues: HashMap::new(),
            sq: HashMap::new(),
            issued: Vec::new(),
            fail_pending: HashSet::new(),
            disconnected: HashSet::new(),
        };
        h.scribble_all();
        h
    }

    fn scribble_all(&mut self) {
        let ids: Vec<_> = self.f.endpoint_ids().collect();
        for ep in ids {
            for (i, x) in self.f.region_mut(ep).iter_mut().enumerate() {
                *x = (i as u8)
                    .wrapping_mul(31)
                    .wrapping_add((ep.index() as u8).wrapping_mul(7).wrapping_add(1));
            }
        }
    }

    fn side(&self, side: bool) -> (EndpointId, EndpointId) {
        if side {
            (self.pair.1, self.pair.0)
        } else {
            self.pair
        }
    }

    fn snapshot(&self) -> Vec<Vec<u8>> {
        self.f
            .endpoint_ids()
            .map(|ep| self.f.region(ep).to_vec())
            .collect()
    }

    /// The STag `pick` chooses for an operation aimed at `peer`, with the address of its first
    /// byte: mostly one valid at `peer`, else any handed out, else a bogus one.
    fn stag(&self, peer: EndpointId, pick: usize) -> (Stag, u64) {
        let at_peer: Vec<_> = self
            .issued
            .iter()
            .filter(|i| self.f.is_valid(peer, i.1))
            .collect();
        if !pick.is_multiple_of(4) && !at_peer.is_empty() {
            let &&(_, stag, addr) = at_peer.get(pick / 4 % at_peer.len()).unwrap();
            return (stag, addr);
        }
        match self.issued.get(pick / 4 % (self.issued.len() + 1)) {
            Some(&(_, stag, addr)) => (stag, addr),
            None => (Stag(0x0bad_f00d), 0),
        }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Whether the endpoint would run a work request now (QP ready, no injected failure).
    fn runs(&self, ep: EndpointId) -> bool {
        self.f.endpoint(ep).unwrap().qp_state() == QpState::Ready
            && !self.fail_pending.contains(&ep)
    }

    fn in_region(b: BufRef) -> bool {
        u64::from(b.offset) + u64::from(b.len) <= u64::from(REGION)
    }

    /// The region range an RDMA operation of `len` bytes at `remote` may touch in `peer`.
    fn rdma_target(
        &self,
        peer: EndpointId,
        remote: RemoteBuf,
        len: u32,
        write: bool,
    ) -> Option<BufRef> {
        let e = self.f.endpoint(peer).unwrap();
        let mr = e.registration(Stag(remote.stag))?;
        let allowed = if write {
            mr.access.remote_write
        } else {
            mr.access.remote_read
        };
        let first = if self.zero_based {
            0
        } else {
            e.base_addr() + u64::from(mr.offset)
        };
        let start = remote.addr.checked_sub(first)?;
        (allowed && start.checked_add(u64::from(len))? <= u64::from(mr.len)).then(|| BufRef {
            offset: mr.offset + start as u32,
            len,
        })
    }

    fn post(&mut self, ep: EndpointId, op: DmOp, recv: bool, expect_success: Option<bool>) -> u64 {
        let id = match op {
            DmOp::PostRecv { id, .. }
            | DmOp::Send { id, .. }
            | DmOp::RdmaWrite { id, .. }
            | DmOp::RdmaRead { id, .. } => id.0,
            _ => unreachable!(),
        };
        let flushed = self.f.endpoint(ep).unwrap().qp_state() == QpState::Error;
        if recv && self.f.endpoint(ep).unwrap().posted_recvs() >= 16 && !flushed {
            assert!(self.f.post(ep, op).is_err());
            return id;
        }
        self.f.post(ep, op).unwrap();
        self.fail_pending.remove(&ep);
        self.wrs.insert(
            (ep, id),
            Wr {
                recv,
                expect_success: if flushed { Some(false) } else { expect_success },
                completions: 0,
                success: None,
            },
        );
        if recv {
            if let DmOp::PostRecv { buf, .. } = op {
                self.recv_bufs.insert((ep, id), buf);
            }
            self.recv_queues.entry(ep).or_default().push_back(id);
        } else {
            self.sq.entry(ep).or_default().push_back(id);
        }
        id
    }

    /// Take every completion now waiting; check order and exactly-once. Returns the `Recv`s.
    fn drain(&mut self) -> Vec<(EndpointId, u64, u32, Option<u32>)> {
        let mut recvs = Vec::new();
        let ids: Vec<_> = self.f.endpoint_ids().collect();
        for ep in ids {
            let events = self.f.drain(ep);
            for event in events {
                match event {
                    DmEvent::Done { id, status } => {
                        let next = self.sq.entry(ep).or_default().pop_front();
                        assert_eq!(
                            next,
                            Some(id.0),
                            "{ep:?}: send-queue completions out of order"
                        );
                        if status != WcStatus::Success {
                            // Nothing succeeds after an error on this endpoint's connection.
                            assert_eq!(self.f.endpoint(ep).unwrap().qp_state(), QpState::Error);
                        }
                        wr_status_ok(self, ep, id.0, status == WcStatus::Success);
                    }
                    DmEvent::Recv {
                        id,
                        len,
                        invalidated,
                    } => {
                        assert!(
                            !self.disconnected.contains(&ep),
                            "{ep:?}: Recv after Disconnected"
                        );
                        let front = self.recv_queues.entry(ep).or_default().pop_front();
                        assert_eq!(front, Some(id.0), "{ep:?}: receives not consumed in order");
                        let buf = self.recv_bufs[&(ep, id.0)];
                        assert!(len <= buf.len);
                        wr_status_ok(self, ep, id.0, true);
                        recvs.push((ep, id.0, len, invalidated));
                    }
                    DmEvent::RecvError { id, status } => {
                        assert_ne!(status, WcStatus::Success);
                        let q = self.recv_queues.entry(ep).or_default();
                        let pos = q
                            .iter()
                            .position(|&x| x == id.0)
                            .expect("error for a receive not posted");
                        q.remove(pos);
                        wr_status_ok(self, ep, id.0, false);
                    }
                    DmEvent::Disconnected => {
                        assert!(self.disconnected.insert(ep), "{ep:?}: Disconnected twice");
                        assert_eq!(self.f.endpoint(ep).unwrap().qp_state(), QpState::Error);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        recvs
    }

    fn step(&mut self, op: Op) {
        let before = self.snapshot();
        let valid_before: Vec<Vec<Stag>> = self
            .f
            .endpoint_ids()
            .map(|ep| self.f.valid_stags(ep))
            .collect();
        let mut expected = before.clone();
        match op {
            Op::PostRecv { side, offset, len } => {
                let (me, _) = self.side(side);
                let buf = BufRef { offset, len };
                let id = self.fresh_id();
                let ok = self.runs(me) && Self::in_region(buf);
                // A receive never succeeds at post time; a bad one fails at once.
                self.post(
                    me,
                    DmOp::PostRecv { id: WrId(id), buf },
                    true,
                    (!ok).then_some(false),
                );
            }
            Op::Send {
                side,
                offset,
                len,
                invalidate,
                prepost,
            } => {
                let (me, peer) = self.side(side);
                if prepost {
                    let id = self.fresh_id();
                    let buf = BufRef {
                        offset: REGION - 48,
                        len: 48,
                    };
                    self.post(peer, DmOp::PostRecv { id: WrId(id), buf }, true, None);
                }
                let buf = BufRef { offset, len };
                let id = self.fresh_id();
                let invalidate = invalidate.map(|pick| self.stag(peer, pick).0);
                self.post(
                    me,
                    DmOp::Send {
                        id: WrId(id),
                        buf,
                        invalidate: invalidate.map(|s| s.0),
                    },
                    false,
                    None,
                );
                let recvs = self.drain();
                let delivered: Vec<_> = recvs.iter().filter(|r| r.0 == peer).collect();
                assert!(recvs.iter().all(|r| r.0 == peer));
                assert!(delivered.len() <= 1);
                if let Some(&&(_, recv_id, got, invalidated)) = delivered.first() {
                    assert_eq!(got, len);
                    assert_eq!(invalidated, invalidate.map(|s| s.0));
                    if let Some(s) = invalidate {
                        assert!(valid_before[peer.index()].contains(&s));
                        assert!(!self.f.is_valid(peer, s));
                    }
                    let dst = self.recv_bufs[&(peer, recv_id)];
                    let src = &before[me.index()][offset as usize..(offset + len) as usize];
                    expected[peer.index()][dst.offset as usize..(dst.offset + len) as usize]
                        .copy_from_slice(src);
                }
                // The Send succeeds exactly when the peer received it; its completion may have
                // come already or be held back.
                let delivered = !delivered.is_empty();
                let wr = self.wrs.get_mut(&(me, id)).unwrap();
                match wr.success {
                    Some(success) => assert_eq!(success, delivered, "Send {id}"),
                    None => wr.expect_success = Some(delivered),
                }
            }
            Op::Write {
                side,
                offset,
                len,
                stag,
                delta,
            }
            | Op::Read {
                side,
                offset,
                len,
                stag,
                delta,
            } => {
                let write = matches!(op, Op::Write { .. });
                let (me, peer) = self.side(side);
                let buf = BufRef { offset, len };
                if !stag.is_multiple_of(4) && self.f.valid_stags(peer).is_empty() {
                    // Mostly aim at a registration: make one if the peer has none.
                    if let Ok(remote) =
                        self.f
                            .register_remote(peer, REGION - 48, 48, Access::READ_WRITE)
                    {
                        self.issued.push((peer, Stag(remote.stag), remote.addr));
                    }
                }
                let (stag, first) = self.stag(peer, stag);
                let remote = RemoteBuf {
                    stag: stag.0,
                    addr: first.wrapping_add_signed(delta),
                };
                let target = if self.runs(me) && Self::in_region(buf) {
                    self.rdma_target(peer, remote, len, write)
                } else {
                    None
                };
                let id = self.fresh_id();
                let op = if write {
                    DmOp::RdmaWrite {
                        id: WrId(id),
                        buf,
                        remote,
                    }
                } else {
                    DmOp::RdmaRead {
                        id: WrId(id),
                        buf,
                        remote,
                    }
                };
                self.post(me, op, false, Some(target.is_some()));
                if let Some(t) = target {
                    let (src_ep, src, dst_ep, dst) = if write {
                        (me, buf, peer, t)
                    } else {
                        (peer, t, me, buf)
                    };
                    let bytes = before[src_ep.index()]
                        [src.offset as usize..(src.offset + len) as usize]
                        .to_vec();
                    expected[dst_ep.index()][dst.offset as usize..(dst.offset + len) as usize]
                        .copy_from_slice(&bytes);
                }
            }
            Op::Register {
                side,
                offset,
                len,
                read,
                write,
            } => {
                let (me, _) = self.side(side);
                let access = Access {
                    remote_read: read,
                    remote_write: write,
                };
                match self.f.register_remote(me, offset, len, access) {
                    Ok(remote) => {
                        assert!(Self::in_region(BufRef { offset, len }));
                        assert_ne!(remote.stag, 0);
                        assert!(
                            self.issued.iter().all(|i| i.1 .0 != remote.stag),
                            "STag reused"
                        );
                        self.issued.push((me, Stag(remote.stag), remote.addr));
                    }
                    Err(_) => assert!(!Self::in_region(BufRef { offset, len })),
                }
            }
            Op::Invalidate { side, stag } => {
                let (me, peer) = self.side(side);
                // Mostly one of `me`'s own (valid at `me`, as `peer` would name it).
                let (stag, _) = self.stag(if stag % 2 == 0 { me } else { peer }, stag / 2);
                let was = self.f.is_valid(me, stag);
                assert_eq!(self.f.invalidate(me, stag).is_ok(), was);
                assert!(!self.f.is_valid(me, stag));
            }
            Op::Disconnect { side } => {
                let (me, _) = self.side(side);
                self.f.post(me, DmOp::Disconnect).unwrap();
            }
            Op::Drop { side } => {
                let (me, _) = self.side(side);
                self.f
                    .inject(Fault::DropConnection { endpoint: me })
                    .unwrap();
            }
            Op::FailNext { side, kind } => {
                let (me, _) = self.side(side);
                let kind = [
                    WcStatus::Success,
                    WcStatus::Other,
                    WcStatus::RemoteAccess,
                    WcStatus::ReceiverNotReady,
                    WcStatus::Flushed,
                ][kind as usize];
                self.f
                    .inject(Fault::FailNext { endpoint: me, kind })
                    .unwrap();
                if self.f.endpoint(me).unwrap().qp_state() == QpState::Ready {
                    self.fail_pending.insert(me);
                }
            }
            Op::Delay { side, ops } => {
                let (me, _) = self.side(side);
                self.f.inject(Fault::Delay { endpoint: me, ops }).unwrap();
            }
            Op::Release { side } => {
                let (me, _) = self.side(side);
                self.f.release(me);
            }
            Op::Scribble { side, seed } => {
                let (me, _) = self.side(side);
                for (i, x) in self.f.region_mut(me).iter_mut().enumerate() {
                    *x = seed.wrapping_add(i as u8);
                }
                return;
            }
            Op::Reconnect if self.f.endpoint(self.pair.0).unwrap().qp_state() == QpState::Ready => {
                return;
            }
            Op::NewPair | Op::Reconnect => {
                self.pair = self.f.connect_pair();
                self.scribble_all();
                return;
            }
        }
        self.drain();
        for ep in self.f.endpoint_ids() {
            if self.f.endpoint(ep).unwrap().qp_state() == QpState::Error {
                self.fail_pending.remove(&ep);
            }
        }
        assert_eq!(
            self.snapshot(),
            expected,
            "memory changed outside what {op:?} may touch"
        );
        // STags: non-zero, each valid at one endpoint only.
        let mut all = HashSet::new();
        for ep in self.f.endpoint_ids() {
            for s in self.f.valid_stags(ep) {
                assert_ne!(s.0, 0);
                assert!(all.insert(s));
            }
        }
    }

    /// Release everything, disconnect every pair, and check every work request completed once.
    fn finish(mut self) {
        self.f.release_all();
        let ids: Vec<_> = self.f.endpoint_ids().collect();
        for &ep in &ids {
            self.f.post(ep, DmOp::Disconnect).unwrap();
        }
        self.drain();
        assert!(self.f.is_idle());
        for &ep in &ids {
            assert!(
                self.disconnected.contains(&ep),
                "{ep:?} never heard Disconnected"
            );
        }
        for (key, wr) in &self.wrs {
            assert_eq!(
                wr.completions,
                1,
                "{key:?} ({}) completed {} times",
                if wr.recv { "recv" } else { "sq" },
                wr.completions
            );
        }
        let c = self.f.total_counters();
        let posted = c.recvs_posted + c.sends + c.rdma_writes + c.rdma_reads;
        assert_eq!(posted, self.wrs.len() as u64);
    }
}

proptest! {
    #[test]
    fn prop_every_work_request_completes_once_and_memory_stays_in_bounds(
        zero_based in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..120),
    ) {
        let mut h = Harness::new(zero_based);
        for op in ops {
            h.step(op);
        }
        h.finish();
    }
}
