//! An in-memory RDMA reliable-connected (RC) fabric for tests: endpoints joined in QP pairs
//! execute the core's [`DmOp`]s with the semantics of real RC verbs, so the iSER initiator and
//! target engines (RFC 7145) can meet in one process. Never the product's transport.
//!
//! Each endpoint owns one memory region (the byte slice the engines work in) at a base virtual
//! address unique per endpoint. Operations execute when posted and their completions queue per
//! endpoint in order; [`Fabric::poll`] hands them out. Rules (RFC 7145 §5 relies on them):
//!
//! - `PostRecv` appends to the receive queue. A buffer outside the region completes
//!   `RecvError { Other }` and breaks the connection.
//! - `Send` consumes the peer's oldest posted receive. None posted: the sender's completion is
//!   `ReceiverNotReady`. A message longer than the receive buffer: `RecvError { Other }` on the
//!   receiver (local length error), `Done { Other }` on the sender. With Invalidate, the STag is
//!   invalidated in the receiver's registrations before its `Recv` is reported; an STag the
//!   receiver does not hold: `RecvError { Other }` there, `Done { RemoteAccess }` at the sender.
//! - `RdmaWrite` / `RdmaRead` need a valid STag of the peer whose registration holds the whole
//!   range `[addr, addr + len)` (checked even for zero-length operations) and allows the access;
//!   else `Done { RemoteAccess }`. They are invisible to the peer.
//! - A local buffer outside the region completes `Done { Other }` (local protection error).
//! - Any error moves both QPs of the pair to the error state: posted receives flush with
//!   `RecvError { Flushed }`, each side gets `Disconnected` once, and every later work request
//!   completes `Flushed`. `Disconnect` does the same without an error.
//!
//! Every posted work request thus completes exactly once. STags are fresh, non-zero and unique
//! in the whole fabric, never handed out twice.

#![deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod counters;
mod endpoint;
mod fault;
mod mr;

pub use counters::Counters;
pub use endpoint::{Endpoint, QpState};
pub use fault::Fault;
pub use mr::{Access, Registration, Stag};

use std::fmt;

use iser_core::dm::{BufRef, DmEvent, DmOp, RemoteBuf, WcStatus, WrId};

use counters::bump;

/// Base virtual address of endpoint 0; endpoint `i` sits at `BASE_ADDR + i * ADDR_STRIDE`.
pub const BASE_ADDR: u64 = 0x7f00_0000_0000;
/// Distance between the base addresses of consecutive endpoints (64 GiB).
pub const ADDR_STRIDE: u64 = 1 << 36;

/// How a fabric is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FabricConfig {
    /// Size of each endpoint's memory region in bytes.
    pub region_len: u32,
    /// Remote addresses are offsets from the registration's first byte rather than absolute
    /// virtual addresses (RFC 7145 §5.1; real initiators say they do not support it).
    pub zero_based: bool,
    /// Receives an endpoint may keep posted (the QP's `max_recv_wr`); one more is refused.
    pub max_recv_wr: usize,
    /// The first STag handed out; later ones follow a fixed odd stride, skipping 0.
    pub first_stag: u32,
}

impl Default for FabricConfig {
    fn default() -> Self {
        FabricConfig {
            region_len: 1 << 20,
            zero_based: false,
            max_recv_wr: 4096,
            first_stag: 0x5a00_1001,
        }
    }
}

/// Names an endpoint of the [`Fabric`] that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(usize);

impl EndpointId {
    /// Position of the endpoint in its fabric (0, 1, …), which also fixes its base address.
    pub fn index(self) -> usize {
        self.0
    }
}

/// Why the fabric refused a call outright (nothing was posted, nothing will complete).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FabricError {
    /// The endpoint id belongs to another fabric.
    NoSuchEndpoint,
    /// The piece of memory is not inside the endpoint's region.
    OutOfRegion,
    /// The STag is not valid at this endpoint.
    UnknownStag,
    /// The receive queue already holds `max_recv_wr` receives.
    RecvQueueFull,
    /// A [`DmOp`] this fabric does not know.
    Unsupported,
}

/// Stride between consecutive STags: odd, so 2^32 registrations pass before a value repeats.
const STAG_STRIDE: u32 = 0x0001_0103;

/// The fabric: every endpoint and the STag allocator. Deterministic, single-threaded.
pub struct Fabric {
    config: FabricConfig,
    endpoints: Vec<endpoint::Endpoint>,
    next_stag: u32,
}

impl fmt::Debug for Fabric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fabric")
            .field("config", &self.config)
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

impl Fabric {
    /// An empty fabric; add QP pairs with [`Fabric::connect_pair`].
    pub fn new(config: FabricConfig) -> Fabric {
        Fabric {
            config,
            endpoints: Vec::new(),
            next_stag: config.first_stag,
        }
    }

    /// A fabric with one connected QP pair.
    pub fn pair(config: FabricConfig) -> (Fabric, EndpointId, EndpointId) {
        let mut fabric = Fabric::new(config);
        let (a, b) = fabric.connect_pair();
        (fabric, a, b)
    }

    /// The configuration.
    pub fn config(&self) -> &FabricConfig {
        &self.config
    }

    /// Two new endpoints with regions of `config.region_len` bytes, joined by a QP pair.
    pub fn connect_pair(&mut self) -> (EndpointId, EndpointId) {
        let len = self.config.region_len;
        self.connect_pair_sized(len, len)
    }

    /// Two new endpoints with regions of `a_len` and `b_len` bytes, joined by a QP pair.
    pub fn connect_pair_sized(&mut self, a_len: u32, b_len: u32) -> (EndpointId, EndpointId) {
        let a = self.endpoints.len();
        let b = a.saturating_add(1);
        for (i, len, peer) in [(a, a_len, b), (b, b_len, a)] {
            let base = (i as u64)
                .saturating_mul(ADDR_STRIDE)
                .saturating_add(BASE_ADDR);
            self.endpoints.push(endpoint::Endpoint::new(
                base,
                len,
                self.config.zero_based,
                peer,
            ));
        }
        (EndpointId(a), EndpointId(b))
    }

    /// Every endpoint id, in creation order.
    pub fn endpoint_ids(&self) -> impl Iterator<Item = EndpointId> {
        (0..self.endpoints.len()).map(EndpointId)
    }

    /// The endpoint, to inspect.
    pub fn endpoint(&self, ep: EndpointId) -> Option<&Endpoint> {
        self.endpoints.get(ep.0)
    }

    /// The endpoint's peer across its QP pair.
    pub fn peer(&self, ep: EndpointId) -> Option<EndpointId> {
        self.endpoints.get(ep.0).map(|e| EndpointId(e.peer))
    }

    /// The endpoint's region (empty for an unknown id).
    pub fn region(&self, ep: EndpointId) -> &[u8] {
        self.endpoints.get(ep.0).map_or(&[], |e| e.region())
    }

    /// The endpoint's region, mutably: the slice its engine works in (empty for an unknown id).
    pub fn region_mut(&mut self, ep: EndpointId) -> &mut [u8] {
        match self.endpoints.get_mut(ep.0) {
            Some(e) => e.region_mut(),
            None => &mut [],
        }
    }

    /// The endpoint's base virtual address.
    pub fn base_addr(&self, ep: EndpointId) -> Option<u64> {
        self.endpoints.get(ep.0).map(|e| e.base_addr())
    }

    /// Register `len` bytes at `offset` of the endpoint's region for remote access by its peer;
    /// the STag is fresh, non-zero and unique in the fabric.
    pub fn register(
        &mut self,
        ep: EndpointId,
        offset: u32,
        len: u32,
        access: Access,
    ) -> Result<Stag, FabricError> {
        let e = self
            .endpoints
            .get(ep.0)
            .ok_or(FabricError::NoSuchEndpoint)?;
        if !e.contains(BufRef { offset, len }) {
            return Err(FabricError::OutOfRegion);
        }
        let stag = self.fresh_stag();
        let e = self
            .endpoints
            .get_mut(ep.0)
            .ok_or(FabricError::NoSuchEndpoint)?;
        e.mrs.insert(
            stag,
            Registration {
                offset,
                len,
                access,
            },
        );
        bump(&mut e.counters.registrations, 1);
        Ok(stag)
    }

    /// Register and say how the peer reaches it: [`Fabric::register`] then
    /// [`Endpoint::remote_buf`].
    pub fn register_remote(
        &mut self,
        ep: EndpointId,
        offset: u32,
        len: u32,
        access: Access,
    ) -> Result<RemoteBuf, FabricError> {
        let stag = self.register(ep, offset, len, access)?;
        self.endpoints
            .get(ep.0)
            .and_then(|e| e.remote_buf(stag))
            .ok_or(FabricError::UnknownStag)
    }

    /// End a registration locally (deregistration or Local Invalidate).
    pub fn invalidate(&mut self, ep: EndpointId, stag: Stag) -> Result<(), FabricError> {
        let e = self
            .endpoints
            .get_mut(ep.0)
            .ok_or(FabricError::NoSuchEndpoint)?;
        e.mrs.remove(&stag).ok_or(FabricError::UnknownStag)?;
        bump(&mut e.counters.invalidations, 1);
        Ok(())
    }

    /// Whether `stag` is valid at the endpoint.
    pub fn is_valid(&self, ep: EndpointId, stag: Stag) -> bool {
        self.endpoints.get(ep.0).is_some_and(|e| e.is_valid(stag))
    }

    /// Every valid STag of the endpoint.
    pub fn valid_stags(&self, ep: EndpointId) -> Vec<Stag> {
        self.endpoints
            .get(ep.0)
            .map_or_else(Vec::new, |e| e.valid_stags())
    }

    /// The next completion of the endpoint, in order.
    pub fn poll(&mut self, ep: EndpointId) -> Option<DmEvent> {
        self.endpoints.get_mut(ep.0)?.cq.pop_front()
    }

    /// Every completion of the endpoint waiting now.
    pub fn drain(&mut self, ep: EndpointId) -> Vec<DmEvent> {
        self.endpoints
            .get_mut(ep.0)
            .map_or_else(Vec::new, |e| e.cq.drain(..).collect())
    }

    /// Let the completions held by [`Fault::Delay`] through (and cancel what is left of the
    /// delay); returns how many were released.
    pub fn release(&mut self, ep: EndpointId) -> usize {
        self.endpoints.get_mut(ep.0).map_or(0, |e| e.release())
    }

    /// [`Fabric::release`] on every endpoint.
    pub fn release_all(&mut self) -> usize {
        self.endpoints
            .iter_mut()
            .fold(0, |n, e| n.saturating_add(e.release()))
    }

    /// Whether no endpoint has a completion waiting or held.
    pub fn is_idle(&self) -> bool {
        self.endpoints
            .iter()
            .all(|e| e.cq.is_empty() && e.held.is_empty())
    }

    /// The endpoint's counters (zero for an unknown id).
    pub fn counters(&self, ep: EndpointId) -> Counters {
        self.endpoints
            .get(ep.0)
            .map_or_else(Counters::default, |e| e.counters())
    }

    /// Counters summed over every endpoint.
    pub fn total_counters(&self) -> Counters {
        self.endpoints
            .iter()
            .fold(Counters::default(), |sum, e| sum.merged(&e.counters))
    }

    /// Inject a fault.
    pub fn inject(&mut self, fault: Fault) -> Result<(), FabricError> {
        match fault {
            Fault::DropConnection { endpoint } => {
                if endpoint.0 >= self.endpoints.len() {
                    return Err(FabricError::NoSuchEndpoint);
                }
                self.break_pair(endpoint.0);
            }
            Fault::FailNext { endpoint, kind } => {
                let e = self
                    .endpoints
                    .get_mut(endpoint.0)
                    .ok_or(FabricError::NoSuchEndpoint)?;
                e.fail_next = Some(match kind {
                    WcStatus::Success => WcStatus::Other,
                    other => other,
                });
            }
            Fault::Delay { endpoint, ops } => {
                let e = self
                    .endpoints
                    .get_mut(endpoint.0)
                    .ok_or(FabricError::NoSuchEndpoint)?;
                e.delay_left = e.delay_left.saturating_add(ops);
            }
        }
        Ok(())
    }

    /// Post a work request on the endpoint's QP. It executes now; its completion (or the
    /// peer's) queues for [`Fabric::poll`]. `Err` only when nothing was posted at all.
    pub fn post(&mut self, ep: EndpointId, op: DmOp) -> Result<(), FabricError> {
        let max_recv_wr = self.config.max_recv_wr;
        let e = self
            .endpoints
            .get_mut(ep.0)
            .ok_or(FabricError::NoSuchEndpoint)?;
        let id = match op {
            DmOp::PostRecv { id, .. } => {
                if e.state == QpState::Ready && e.recv_queue.len() >= max_recv_wr {
                    return Err(FabricError::RecvQueueFull);
                }
                bump(&mut e.counters.recvs_posted, 1);
                id
            }
            DmOp::Send { id, .. } => {
                bump(&mut e.counters.sends, 1);
                id
            }
            DmOp::RdmaWrite { id, .. } => {
                bump(&mut e.counters.rdma_writes, 1);
                id
            }
            DmOp::RdmaRead { id, .. } => {
                bump(&mut e.counters.rdma_reads, 1);
                id
            }
            DmOp::Disconnect => {
                bump(&mut e.counters.disconnects, 1);
                self.break_pair(ep.0);
                return Ok(());
            }
            _ => return Err(FabricError::Unsupported),
        };
        let is_recv = matches!(op, DmOp::PostRecv { .. });
        // (status, whether the connection breaks now)
        let fail = if e.state == QpState::Error {
            Some((WcStatus::Flushed, false))
        } else {
            e.fail_next.take().map(|status| (status, true))
        };
        if let Some((status, breaks)) = fail {
            if is_recv {
                e.complete_recv_error(id, status);
            } else {
                e.complete_sq(id, status);
            }
            if breaks {
                self.break_pair(ep.0);
            }
            return Ok(());
        }
        match op {
            DmOp::PostRecv { id, buf } => {
                if e.contains(buf) {
                    e.recv_queue.push_back((id, buf));
                } else {
                    e.complete_recv_error(id, WcStatus::Other);
                    self.break_pair(ep.0);
                }
            }
            DmOp::Send {
                id,
                buf,
                invalidate,
            } => self.send(ep.0, id, buf, invalidate),
            DmOp::RdmaWrite { id, buf, remote } => self.rdma(ep.0, id, buf, remote, Dir::Write),
            DmOp::RdmaRead { id, buf, remote } => self.rdma(ep.0, id, buf, remote, Dir::Read),
            _ => {}
        }
        Ok(())
    }

    /// Both endpoints, mutably: `(endpoints[a], endpoints[b])`, `a != b`.
    fn two_mut(
        &mut self,
        a: usize,
        b: usize,
    ) -> Option<(&mut endpoint::Endpoint, &mut endpoint::Endpoint)> {
        if a < b {
            let (lo, hi) = self.endpoints.split_at_mut_checked(b)?;
            Some((lo.get_mut(a)?, hi.first_mut()?))
        } else if b < a {
            let (lo, hi) = self.endpoints.split_at_mut_checked(a)?;
            Some((hi.first_mut()?, lo.get_mut(b)?))
        } else {
            None
        }
    }

    fn send(&mut self, me: usize, id: WrId, buf: BufRef, invalidate: Option<u32>) {
        let Some(peer) = self.endpoints.get(me).map(|e| e.peer) else {
            return;
        };
        let Some((local, remote)) = self.two_mut(me, peer) else {
            return;
        };
        if !local.contains(buf) {
            local.complete_sq(id, WcStatus::Other);
            return self.break_pair(me);
        }
        let Some((recv_id, recv_buf)) = remote.recv_queue.pop_front() else {
            local.complete_sq(id, WcStatus::ReceiverNotReady);
            return self.break_pair(me);
        };
        if buf.len > recv_buf.len {
            remote.complete_recv_error(recv_id, WcStatus::Other);
            local.complete_sq(id, WcStatus::Other);
            return self.break_pair(me);
        }
        if let Some(stag) = invalidate {
            if remote.mrs.remove(&Stag(stag)).is_none() {
                remote.complete_recv_error(recv_id, WcStatus::Other);
                local.complete_sq(id, WcStatus::RemoteAccess);
                return self.break_pair(me);
            }
            bump(&mut remote.counters.invalidations, 1);
        }
        let src = local.region.get(endpoint::Endpoint::range(buf));
        let dst = remote.region.get_mut(endpoint::Endpoint::range(BufRef {
            offset: recv_buf.offset,
            len: buf.len,
        }));
        // Both ranges were checked against their regions (`contains`, at post time for the
        // receive), and `buf.len <= recv_buf.len`.
        if let (Some(src), Some(dst)) = (src, dst) {
            dst.copy_from_slice(src);
        }
        remote.cq.push_back(DmEvent::Recv {
            id: recv_id,
            len: buf.len,
            invalidated: invalidate,
        });
        bump(&mut remote.counters.recvs_completed, 1);
        bump(&mut local.counters.send_bytes, u64::from(buf.len));
        local.complete_sq(id, WcStatus::Success);
    }

    fn rdma(&mut self, me: usize, id: WrId, buf: BufRef, remote_buf: RemoteBuf, dir: Dir) {
        let Some(peer) = self.endpoints.get(me).map(|e| e.peer) else {
            return;
        };
        let Some((local, remote)) = self.two_mut(me, peer) else {
            return;
        };
        if !local.contains(buf) {
            local.complete_sq(id, WcStatus::Other);
            return self.break_pair(me);
        }
        let target = remote.mrs.get(&Stag(remote_buf.stag)).and_then(|mr| {
            let allowed = match dir {
                Dir::Write => mr.access.remote_write,
                Dir::Read => mr.access.remote_read,
            };
            let offset = mr.resolve(remote.mr_addr(mr), remote_buf.addr, buf.len)?;
            allowed.then_some(BufRef {
                offset,
                len: buf.len,
            })
        });
        let Some(target) = target else {
            local.complete_sq(id, WcStatus::RemoteAccess);
            return self.break_pair(me);
        };
        let local_range = endpoint::Endpoint::range(buf);
        let remote_range = endpoint::Endpoint::range(target);
        // Both ranges lie inside their regions: `contains` for the local one, the registration
        // (itself checked at `register`) for the remote one.
        match dir {
            Dir::Write => {
                if let (Some(src), Some(dst)) = (
                    local.region.get(local_range),
                    remote.region.get_mut(remote_range),
                ) {
                    dst.copy_from_slice(src);
                }
                bump(&mut local.counters.rdma_write_bytes, u64::from(buf.len));
            }
            Dir::Read => {
                if let (Some(src), Some(dst)) = (
                    remote.region.get(remote_range),
                    local.region.get_mut(local_range),
                ) {
                    dst.copy_from_slice(src);
                }
                bump(&mut local.counters.rdma_read_bytes, u64::from(buf.len));
            }
        }
        local.complete_sq(id, WcStatus::Success);
    }

    /// Move the endpoint's QP and its peer's to the error state (flush, `Disconnected`).
    fn break_pair(&mut self, me: usize) {
        let peer = self.endpoints.get(me).map(|e| e.peer);
        if let Some(e) = self.endpoints.get_mut(me) {
            e.enter_error();
        }
        if let Some(e) = peer.and_then(|p| self.endpoints.get_mut(p)) {
            e.enter_error();
        }
    }

    /// A fresh, non-zero STag no endpoint holds (the loop ends: fewer than 2^32 STags can be
    /// valid at once, and the stride visits every value).
    fn fresh_stag(&mut self) -> Stag {
        loop {
            let stag = Stag(self.next_stag);
            self.next_stag = self.next_stag.wrapping_add(STAG_STRIDE);
            if stag.0 != 0 && !self.endpoints.iter().any(|e| e.is_valid(stag)) {
                return stag;
            }
        }
    }
}

/// Direction of an RDMA operation.
#[derive(Clone, Copy, Debug)]
enum Dir {
    Write,
    Read,
}
