//! A firmware RDMA datamover shaped like a NIC's queues: per endpoint a submission ring, a
//! receive ring and a completion ring in static memory, a doorbell, and a registration table.
//! The iSER engines' [`DmOp`]s are posted to the rings exactly as the verbs adapter posts them
//! on hosts; [`Link::process`] plays the NIC and executes them between two endpoints' regions
//! with reliable-connection semantics (RFC 7145 §5: Send lands in the peer's oldest posted
//! receive, RDMA Write/Read by STag with bounds and access checks; completions in order; any
//! failure moves both queue pairs to the error state and flushes them).

mod mr;
mod ring;

pub use mr::{Mr, MrTable, RemoteAccess};
pub use ring::Ring;

use iser_core::dm::{BufRef, DmEvent, DmOp, WcStatus, WrId};

/// Why a post was refused. The caller keeps the op and posts it again later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PostError {
    /// The submission ring is full.
    SendQueueFull,
    /// The receive ring is full.
    RecvQueueFull,
}

/// State of an endpoint's queue pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QpState {
    /// Connected: work requests execute.
    Ready,
    /// Broken: every work request is flushed, then `Disconnected` is reported once.
    Error,
}

/// What an endpoint did, for the summary and the size report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Sends executed.
    pub sends: u32,
    /// RDMA Writes executed.
    pub rdma_writes: u32,
    /// RDMA Reads executed.
    pub rdma_reads: u32,
    /// Bytes moved by RDMA (both directions).
    pub rdma_bytes: u64,
    /// Receives completed.
    pub recvs: u32,
    /// Doorbells rung.
    pub doorbells: u32,
    /// Posts refused because a ring was full.
    pub ring_full: u32,
    /// Times the NIC waited for room in a completion ring.
    pub cq_stalls: u32,
    /// Work requests flushed after an error.
    pub flushed: u32,
}

impl Counters {
    /// Adds `other`'s counts (saturating), to total several connections.
    pub fn add(&mut self, other: &Counters) {
        let sum = |a: &mut u32, b: u32| *a = a.saturating_add(b);
        sum(&mut self.sends, other.sends);
        sum(&mut self.rdma_writes, other.rdma_writes);
        sum(&mut self.rdma_reads, other.rdma_reads);
        self.rdma_bytes = self.rdma_bytes.saturating_add(other.rdma_bytes);
        sum(&mut self.recvs, other.recvs);
        sum(&mut self.doorbells, other.doorbells);
        sum(&mut self.ring_full, other.ring_full);
        sum(&mut self.cq_stalls, other.cq_stalls);
        sum(&mut self.flushed, other.flushed);
    }
}

/// One side of the link: its registered region, rings and registrations. `Q` bounds the
/// submission and receive rings, `CQ` the completion ring (keep `CQ >= 2 * Q + 1` so a flush
/// always fits), `MRS` the registrations.
#[derive(Debug)]
pub struct Endpoint<'r, const Q: usize, const CQ: usize, const MRS: usize> {
    region: &'r mut [u8],
    sq: Ring<DmOp, Q>,
    rq: Ring<(WrId, BufRef), Q>,
    cq: Ring<DmEvent, CQ>,
    /// Submission entries the NIC may consume (set by the doorbell).
    doorbell: usize,
    state: QpState,
    disconnect_reported: bool,
    /// Registrations the peer may use.
    pub mrs: MrTable<MRS>,
    /// What happened so far.
    pub counters: Counters,
}

impl<'r, const Q: usize, const CQ: usize, const MRS: usize> Endpoint<'r, Q, CQ, MRS> {
    /// An endpoint over `region`, connected and ready. Remote addresses are the region's own
    /// addresses (absolute virtual addressing, as real initiators require).
    pub fn new(region: &'r mut [u8]) -> Self {
        let base = region.as_ptr() as usize as u64;
        let len = u32::try_from(region.len()).unwrap_or(u32::MAX);
        Endpoint {
            region,
            sq: Ring::new(),
            rq: Ring::new(),
            cq: Ring::new(),
            doorbell: 0,
            state: QpState::Ready,
            disconnect_reported: false,
            mrs: MrTable::new(base, len),
            counters: Counters::default(),
        }
    }

    /// The queue pair's state.
    pub fn state(&self) -> QpState {
        self.state
    }

    /// The registered region.
    pub fn region(&self) -> &[u8] {
        self.region
    }

    /// The registered region, mutably (the engines build and read messages in it).
    pub fn region_mut(&mut self) -> &mut [u8] {
        self.region
    }

    /// The region and the registration table at once (the initiator engine registers data
    /// buffers while it reads a message from the region).
    pub fn split(&mut self) -> (&mut [u8], &mut MrTable<MRS>) {
        (self.region, &mut self.mrs)
    }

    /// Writes `op` into the submission ring (or, for a receive, the receive ring). The NIC
    /// sees submission entries only after [`Endpoint::ring_doorbell`].
    pub fn post(&mut self, op: DmOp) -> Result<(), PostError> {
        let result = match op {
            DmOp::PostRecv { id, buf } => self
                .rq
                .push((id, buf))
                .map_err(|_| PostError::RecvQueueFull),
            _ => self.sq.push(op).map_err(|_| PostError::SendQueueFull),
        };
        if result.is_err() {
            self.counters.ring_full = self.counters.ring_full.saturating_add(1);
        }
        result
    }

    /// Hands every submission entry written so far to the NIC.
    pub fn ring_doorbell(&mut self) {
        if self.doorbell != self.sq.len() {
            self.doorbell = self.sq.len();
            self.counters.doorbells = self.counters.doorbells.saturating_add(1);
        }
    }

    /// The oldest completion.
    pub fn poll(&mut self) -> Option<DmEvent> {
        self.cq.pop()
    }

    fn contains(&self, buf: BufRef) -> bool {
        buf.offset
            .checked_add(buf.len)
            .is_some_and(|end| end as usize <= self.region.len())
    }

    fn range(buf: BufRef) -> core::ops::Range<usize> {
        let start = buf.offset as usize;
        start..start.saturating_add(buf.len as usize)
    }

    fn complete(&mut self, event: DmEvent) {
        // The caller checked for room; a full ring here would be a bug in this file, and the
        // engine then sees the connection fail rather than a lost completion.
        if self.cq.push(event).is_err() {
            self.state = QpState::Error;
        }
    }

    fn enter_error(&mut self) {
        self.state = QpState::Error;
    }

    /// Flushes one queued work request (or reports the disconnect) in the error state; false
    /// when there is nothing left to do or no room.
    fn flush_one(&mut self) -> bool {
        if !self.cq.has_room(1) {
            return false;
        }
        if let Some((id, _)) = self.rq.pop() {
            self.counters.flushed = self.counters.flushed.saturating_add(1);
            self.complete(DmEvent::RecvError {
                id,
                status: WcStatus::Flushed,
            });
            return true;
        }
        if let Some(op) = self.sq.pop() {
            self.doorbell = self.doorbell.saturating_sub(1);
            let id = match op {
                DmOp::Send { id, .. } | DmOp::RdmaWrite { id, .. } | DmOp::RdmaRead { id, .. } => {
                    Some(id)
                }
                _ => None,
            };
            if let Some(id) = id {
                self.counters.flushed = self.counters.flushed.saturating_add(1);
                self.complete(DmEvent::Done {
                    id,
                    status: WcStatus::Flushed,
                });
            }
            return true;
        }
        if !self.disconnect_reported {
            self.disconnect_reported = true;
            self.complete(DmEvent::Disconnected);
            return true;
        }
        false
    }
}

/// Which endpoint of a [`Link`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Side {
    /// The first endpoint (the initiator in the image).
    A,
    /// The second endpoint (the target in the image).
    B,
}

/// Two endpoints joined by a reliable connection, and the NIC that executes their rings.
#[derive(Debug)]
pub struct Link<'r, const Q: usize, const CQ: usize, const MRS: usize> {
    /// The first endpoint.
    pub a: Endpoint<'r, Q, CQ, MRS>,
    /// The second endpoint.
    pub b: Endpoint<'r, Q, CQ, MRS>,
}

impl<'r, const Q: usize, const CQ: usize, const MRS: usize> Link<'r, Q, CQ, MRS> {
    /// Joins two regions.
    pub fn new(a: &'r mut [u8], b: &'r mut [u8]) -> Self {
        Link {
            a: Endpoint::new(a),
            b: Endpoint::new(b),
        }
    }

    /// One endpoint.
    pub fn endpoint(&mut self, side: Side) -> &mut Endpoint<'r, Q, CQ, MRS> {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Runs the NIC until neither side has doorbelled work it can execute; returns the work
    /// requests executed or flushed.
    pub fn process(&mut self) -> usize {
        let mut done = 0usize;
        loop {
            let mut progress = false;
            for side in [Side::A, Side::B] {
                let (local, peer) = match side {
                    Side::A => (&mut self.a, &mut self.b),
                    Side::B => (&mut self.b, &mut self.a),
                };
                while step(local, peer) {
                    progress = true;
                    done = done.saturating_add(1);
                }
            }
            if !progress {
                return done;
            }
        }
    }
}

/// Executes (or flushes) `local`'s oldest doorbelled work request against `peer`.
fn step<const Q: usize, const CQ: usize, const MRS: usize>(
    local: &mut Endpoint<'_, Q, CQ, MRS>,
    peer: &mut Endpoint<'_, Q, CQ, MRS>,
) -> bool {
    if local.state == QpState::Error {
        return local.flush_one();
    }
    if local.doorbell == 0 {
        return false;
    }
    // Room for this op's completion, and for the peer's receive completion.
    if !local.cq.has_room(1) || !peer.cq.has_room(1) {
        local.counters.cq_stalls = local.counters.cq_stalls.saturating_add(1);
        return false;
    }
    let Some(op) = local.sq.pop() else {
        return false;
    };
    local.doorbell = local.doorbell.saturating_sub(1);
    let outcome = match op {
        DmOp::Send {
            id,
            buf,
            invalidate,
        } => Some((id, send(local, peer, buf, invalidate))),
        DmOp::RdmaWrite { id, buf, remote } => {
            Some((id, rdma(local, peer, buf, remote, RemoteAccess::Write)))
        }
        DmOp::RdmaRead { id, buf, remote } => {
            Some((id, rdma(local, peer, buf, remote, RemoteAccess::Read)))
        }
        _ => None, // Disconnect (and any op this NIC does not know) ends the connection.
    };
    match outcome {
        Some((id, WcStatus::Success)) => local.complete(DmEvent::Done {
            id,
            status: WcStatus::Success,
        }),
        Some((id, status)) => {
            local.complete(DmEvent::Done { id, status });
            local.enter_error();
            peer.enter_error();
        }
        None => {
            local.enter_error();
            peer.enter_error();
        }
    }
    true
}

fn send<const Q: usize, const CQ: usize, const MRS: usize>(
    local: &mut Endpoint<'_, Q, CQ, MRS>,
    peer: &mut Endpoint<'_, Q, CQ, MRS>,
    buf: BufRef,
    invalidate: Option<u32>,
) -> WcStatus {
    if !local.contains(buf) {
        return WcStatus::Other;
    }
    let Some((recv_id, recv_buf)) = peer.rq.pop() else {
        return WcStatus::ReceiverNotReady;
    };
    let fail = |peer: &mut Endpoint<'_, Q, CQ, MRS>, status| {
        peer.complete(DmEvent::RecvError {
            id: recv_id,
            status: WcStatus::Other,
        });
        status
    };
    if buf.len > recv_buf.len || !peer.contains(recv_buf) {
        return fail(peer, WcStatus::Other);
    }
    if let Some(stag) = invalidate {
        if !peer.mrs.invalidate(stag) {
            return fail(peer, WcStatus::RemoteAccess);
        }
    }
    let dst = BufRef {
        offset: recv_buf.offset,
        len: buf.len,
    };
    match (
        local.region.get(Endpoint::<Q, CQ, MRS>::range(buf)),
        peer.region.get_mut(Endpoint::<Q, CQ, MRS>::range(dst)),
    ) {
        // Equal lengths checked here, so the copy cannot panic (no `core::fmt` in the image).
        (Some(src), Some(dst)) if src.len() == dst.len() => dst.copy_from_slice(src),
        _ => return fail(peer, WcStatus::Other),
    }
    peer.counters.recvs = peer.counters.recvs.saturating_add(1);
    peer.complete(DmEvent::Recv {
        id: recv_id,
        len: buf.len,
        invalidated: invalidate,
    });
    local.counters.sends = local.counters.sends.saturating_add(1);
    WcStatus::Success
}

fn rdma<const Q: usize, const CQ: usize, const MRS: usize>(
    local: &mut Endpoint<'_, Q, CQ, MRS>,
    peer: &mut Endpoint<'_, Q, CQ, MRS>,
    buf: BufRef,
    remote: iser_core::dm::RemoteBuf,
    access: RemoteAccess,
) -> WcStatus {
    if !local.contains(buf) {
        return WcStatus::Other;
    }
    let Some(target) = peer.mrs.resolve(remote.stag, remote.addr, buf.len, access) else {
        return WcStatus::RemoteAccess;
    };
    let local_range = Endpoint::<Q, CQ, MRS>::range(buf);
    let remote_range = Endpoint::<Q, CQ, MRS>::range(target);
    let copied = match access {
        RemoteAccess::Write => match (
            local.region.get(local_range),
            peer.region.get_mut(remote_range),
        ) {
            (Some(src), Some(dst)) if src.len() == dst.len() => {
                dst.copy_from_slice(src);
                local.counters.rdma_writes = local.counters.rdma_writes.saturating_add(1);
                true
            }
            _ => false,
        },
        RemoteAccess::Read => match (
            peer.region.get(remote_range),
            local.region.get_mut(local_range),
        ) {
            (Some(src), Some(dst)) if src.len() == dst.len() => {
                dst.copy_from_slice(src);
                local.counters.rdma_reads = local.counters.rdma_reads.saturating_add(1);
                true
            }
            _ => false,
        },
    };
    if !copied {
        return WcStatus::RemoteAccess;
    }
    local.counters.rdma_bytes = local.counters.rdma_bytes.saturating_add(u64::from(buf.len));
    WcStatus::Success
}

#[cfg(test)]
mod tests;
