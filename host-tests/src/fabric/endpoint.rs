//! One end of an RC QP pair in the in-memory fabric: its memory region, registrations, receive
//! queue, completion queue and QP state (the verbs model behind RFC 7145 §5).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use iser_core::dm::{BufRef, DmEvent, RemoteBuf, WcStatus, WrId};

use super::counters::{bump, Counters};
use super::mr::{Registration, Stag};

/// State of an endpoint's queue pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum QpState {
    /// Ready to send and receive (RTS).
    Ready,
    /// In the error state: every work request flushes; the connection is gone.
    Error,
}

/// One endpoint: a memory region at a unique base virtual address, its registrations and its
/// queues. Read it through [`super::Fabric::endpoint`]; change it through the [`super::Fabric`].
pub struct Endpoint {
    pub(super) base_addr: u64,
    pub(super) zero_based: bool,
    pub(super) region: Vec<u8>,
    pub(super) mrs: BTreeMap<Stag, Registration>,
    pub(super) recv_queue: VecDeque<(WrId, BufRef)>,
    pub(super) cq: VecDeque<DmEvent>,
    pub(super) held: VecDeque<DmEvent>,
    pub(super) delay_left: usize,
    pub(super) fail_next: Option<WcStatus>,
    pub(super) state: QpState,
    pub(super) peer: usize,
    pub(super) counters: Counters,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_addr", &format_args!("{:#x}", self.base_addr))
            .field("region_len", &self.region.len())
            .field("mrs", &self.mrs)
            .field("recv_queue", &self.recv_queue.len())
            .field("cq", &self.cq.len())
            .field("held", &self.held.len())
            .field("state", &self.state)
            .field("peer", &self.peer)
            .finish()
    }
}

impl Endpoint {
    pub(super) fn new(base_addr: u64, len: u32, zero_based: bool, peer: usize) -> Endpoint {
        Endpoint {
            base_addr,
            zero_based,
            region: vec![0; len as usize],
            mrs: BTreeMap::new(),
            recv_queue: VecDeque::new(),
            cq: VecDeque::new(),
            held: VecDeque::new(),
            delay_left: 0,
            fail_next: None,
            state: QpState::Ready,
            peer,
            counters: Counters::default(),
        }
    }

    /// The memory region (what the engines get as their byte slice).
    pub fn region(&self) -> &[u8] {
        &self.region
    }

    /// The memory region, mutably.
    pub fn region_mut(&mut self) -> &mut [u8] {
        &mut self.region
    }

    /// Virtual address of the region's first byte.
    pub fn base_addr(&self) -> u64 {
        self.base_addr
    }

    /// Whether `stag` names a valid registration of this endpoint.
    pub fn is_valid(&self, stag: Stag) -> bool {
        self.mrs.contains_key(&stag)
    }

    /// Every valid STag of this endpoint, ascending.
    pub fn valid_stags(&self) -> Vec<Stag> {
        self.mrs.keys().copied().collect()
    }

    /// The registration `stag` names, if valid.
    pub fn registration(&self, stag: Stag) -> Option<Registration> {
        self.mrs.get(&stag).copied()
    }

    /// What the peer needs to reach the first byte of registration `stag`: the STag and the
    /// address (absolute, or 0 with zero-based addressing). Add an offset to `addr` to reach
    /// further in.
    pub fn remote_buf(&self, stag: Stag) -> Option<RemoteBuf> {
        let mr = self.mrs.get(&stag)?;
        Some(RemoteBuf {
            stag: stag.0,
            addr: self.mr_addr(mr),
        })
    }

    /// State of the QP.
    pub fn qp_state(&self) -> QpState {
        self.state
    }

    /// Receives posted and not yet consumed.
    pub fn posted_recvs(&self) -> usize {
        self.recv_queue.len()
    }

    /// Completions waiting to be polled.
    pub fn pending_events(&self) -> usize {
        self.cq.len()
    }

    /// Completions held back by a [`super::Fault::Delay`].
    pub fn held_events(&self) -> usize {
        self.held.len()
    }

    /// What this endpoint did.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Address of a registration's first byte as the peer names it.
    pub(super) fn mr_addr(&self, mr: &Registration) -> u64 {
        if self.zero_based {
            0
        } else {
            self.base_addr.saturating_add(u64::from(mr.offset))
        }
    }

    /// Whether `buf` lies inside the region.
    pub(super) fn contains(&self, buf: BufRef) -> bool {
        u64::from(buf.offset).saturating_add(u64::from(buf.len)) <= self.region.len() as u64
    }

    /// `buf` as a byte range of the region (check [`Endpoint::contains`] first).
    pub(super) fn range(buf: BufRef) -> std::ops::Range<usize> {
        let start = buf.offset as usize;
        start..start.saturating_add(buf.len as usize)
    }

    /// Queue a send-queue completion, behind held ones if any.
    pub(super) fn complete_sq(&mut self, id: WrId, status: WcStatus) {
        self.count_status(status);
        let event = DmEvent::Done { id, status };
        if self.delay_left > 0 {
            self.delay_left = self.delay_left.saturating_sub(1);
            self.held.push_back(event);
        } else if !self.held.is_empty() {
            self.held.push_back(event);
        } else {
            self.cq.push_back(event);
        }
    }

    /// Queue a receive completing in error.
    pub(super) fn complete_recv_error(&mut self, id: WrId, status: WcStatus) {
        self.count_status(status);
        self.cq.push_back(DmEvent::RecvError { id, status });
    }

    fn count_status(&mut self, status: WcStatus) {
        match status {
            WcStatus::Success => {}
            WcStatus::Flushed => bump(&mut self.counters.flushed, 1),
            _ => bump(&mut self.counters.errors, 1),
        }
    }

    /// Move the QP to the error state: flush the receive queue, report `Disconnected`. Nothing
    /// happens if it is already there.
    pub(super) fn enter_error(&mut self) {
        if self.state == QpState::Error {
            return;
        }
        self.state = QpState::Error;
        self.fail_next = None;
        while let Some((id, _)) = self.recv_queue.pop_front() {
            self.complete_recv_error(id, WcStatus::Flushed);
        }
        self.cq.push_back(DmEvent::Disconnected);
    }

    /// Move the held completions to the completion queue.
    pub(super) fn release(&mut self) -> usize {
        let n = self.held.len();
        self.cq.append(&mut self.held);
        self.delay_left = 0;
        n
    }
}
