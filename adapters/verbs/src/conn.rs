//! One RC connection: protection domain, completion queue (busy poll or completion channel),
//! queue pair and one registered memory region, posting iser-core's [`DmOp`]s and reporting
//! [`DmEvent`]s.
//!
//! Every posted work request comes back exactly once: as a completion, as a flush after the queue
//! pair entered the error state (disconnect), or — when posting itself failed — as a completion
//! the adapter makes up with [`WcStatus::Other`]. Only the last work request of each send chain
//! is signalled; the ones before it are reported done when a later one completes
//! ([`crate::sendq`]). So the engine gets every buffer back; [`Connection::outstanding`] counts
//! what is still out.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ptr;
use std::time::{Duration, Instant};

use iser_core::dm::{BufRef, DmEvent, DmOp, RemoteBuf, WcStatus, WrId};
use rdma_sys::{
    ibv_access_flags, ibv_comp_channel, ibv_cq, ibv_mr, ibv_pd, ibv_qp_attr_mask, ibv_qp_state,
    ibv_send_flags, ibv_wc, ibv_wr_opcode, rdma_cm_event_type as ev, rdma_cm_id,
};

use crate::cm::{self, ConnectRequest, EventChannel};
use crate::error::Error;
use crate::region::Region;
use crate::sendq::SendQueue;
use crate::wc::{Completion, RECV_TAG};

/// How completions are waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum CompletionMode {
    /// Sleep on a completion channel (and the CM channel) until something happens.
    #[default]
    Event,
    /// Spin on the completion queue; lowest latency, one CPU per connection.
    BusyPoll,
}

/// Sizes of one connection's queues and memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    /// Bytes of the registered region.
    pub region_len: usize,
    /// Send queue depth (Sends, RDMA Writes and RDMA Reads outstanding at once).
    pub send_depth: u32,
    /// Receive queue depth.
    pub recv_depth: u32,
    /// Let the peer RDMA Read/Write the region (REMOTE_READ | REMOTE_WRITE). A target never
    /// advertises its own buffers, so it leaves this off.
    pub remote_access: bool,
    /// How completions are waited for.
    pub mode: CompletionMode,
}

/// What the accept tells the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptParams<'a> {
    /// Private data of the reply (the iSER CM header).
    pub private_data: &'a [u8],
    /// RDMA Reads we will have outstanding towards the peer at most (capped by the device and
    /// by the request's [`ConnectRequest::initiator_depth`]).
    pub initiator_depth: u8,
    /// RDMA Reads the peer may have outstanding towards us.
    pub responder_resources: u8,
}

/// A send-queue work request waiting for the chain to be posted.
#[derive(Clone, Copy, Debug)]
struct SendWork {
    id: u64,
    sge: Sge,
    opcode: u32,
    invalidate: u32,
    remote: Option<RemoteBuf>,
}

/// Where a buffer of the registered region lies (its `ibv_sge` less the region's lkey).
#[derive(Clone, Copy, Debug)]
struct Sge {
    addr: u64,
    length: u32,
}

/// Work requests gathered by one [`Connection::post_all`].
#[derive(Debug, Default)]
struct Chains {
    recv: Vec<(u64, Sge)>,
    send: Vec<SendWork>,
    /// Bytes the send chain moves.
    send_bytes: u32,
}

/// Bytes of send-queue work after which a chain is posted before the pass ends: a large RDMA
/// Write or Read goes out on its own, as soon as it is produced (64 KiB measured better than
/// 256 KiB for 1 MiB writes in the QEMU guest, docs/benchmarks.md); small ones still share one
/// doorbell.
const CHAIN_BYTES: u32 = 64 << 10;

/// Completions polled per `ibv_poll_cq` call.
const POLL_BATCH: usize = 16;
/// Busy-poll rounds between looks at the CM channel.
const CM_CHECK_EVERY: u32 = 1024;

/// One RDMA connection: accepted ([`Connection::new`]) or made ([`Connection::resolve`], then
/// [`Connection::connect`]).
#[derive(Debug)]
pub struct Connection {
    pub(crate) id: *mut rdma_cm_id,
    pub(crate) channel: Option<EventChannel>,
    pub(crate) pd: *mut ibv_pd,
    comp: *mut ibv_comp_channel,
    cq: *mut ibv_cq,
    qp: bool,
    mr: *mut ibv_mr,
    pub(crate) region: Region,
    lkey: u32,
    mode: CompletionMode,
    armed: bool,
    /// [`Connection::wait`] saw the CM channel readable (or timed out): read it.
    cm_ready: bool,
    /// [`Connection::wait`] saw the completion channel readable (or timed out): read it.
    comp_ready: bool,
    /// Passive side: accepted. Active side: connected (the CM reported it established).
    pub(crate) accepted: bool,
    /// We connected (active side): nothing to reject when dropped before the connection.
    pub(crate) active: bool,
    pub(crate) established: bool,
    disconnect_called: bool,
    gone_reported: bool,
    send_outstanding: u32,
    recv_outstanding: u32,
    send_depth: u32,
    pending: VecDeque<DmEvent>,
    chains: Chains,
    sendq: SendQueue,
    max_init_rd_atom: u8,
    pub(crate) max_rd_atom: u8,
    idle_rounds: u32,
    pub(crate) local: Option<SocketAddr>,
    pub(crate) peer: Option<SocketAddr>,
    /// On-demand memory regions for remote access by rkey ([`crate::MemoryRegistrar`]).
    pub(crate) remote_mrs: HashMap<u32, *mut ibv_mr>,
}

// SAFETY: the connection exclusively owns every verbs object it points to; libibverbs and
// librdmacm objects have no thread affinity, and `&mut self` serialises all use.
unsafe impl Send for Connection {}

impl Connection {
    /// Builds the connection's verbs objects for `req`: its queue pair is ready for receives,
    /// not yet accepted. On failure the request is rejected.
    pub fn new(req: ConnectRequest, spec: &QueueSpec) -> Result<Connection, Error> {
        let local = req.local_addr();
        let peer = req.peer_addr();
        let (id, channel) = req.take();
        let mut c = Connection::bare(id, channel, spec)?;
        c.local = local;
        c.peer = peer;
        c.setup(spec)?;
        Ok(c)
    }

    /// A connection around `id` with no verbs objects yet (dropping it destroys the id).
    pub(crate) fn bare(
        id: *mut rdma_cm_id,
        channel: Option<EventChannel>,
        spec: &QueueSpec,
    ) -> Result<Connection, Error> {
        let region = match Region::new(spec.region_len) {
            Ok(r) => r,
            Err(e) => {
                // SAFETY: the id is ours and nothing else refers to it.
                unsafe { rdma_sys::rdma_destroy_id(id) };
                return Err(e);
            }
        };
        Ok(Connection {
            id,
            channel,
            pd: ptr::null_mut(),
            comp: ptr::null_mut(),
            cq: ptr::null_mut(),
            qp: false,
            mr: ptr::null_mut(),
            region,
            lkey: 0,
            mode: spec.mode,
            armed: false,
            cm_ready: true,
            comp_ready: true,
            accepted: false,
            active: false,
            established: false,
            disconnect_called: false,
            gone_reported: false,
            send_outstanding: 0,
            recv_outstanding: 0,
            send_depth: spec.send_depth.max(1),
            pending: VecDeque::new(),
            chains: Chains::default(),
            sendq: SendQueue::default(),
            max_init_rd_atom: 0,
            max_rd_atom: 0,
            idle_rounds: 0,
            local: None,
            peer: None,
            remote_mrs: HashMap::new(),
        })
    }

    pub(crate) fn setup(&mut self, spec: &QueueSpec) -> Result<(), Error> {
        // SAFETY: a live id of a connect request: `verbs` is its device context.
        let ctx = unsafe { (*self.id).verbs };
        if ctx.is_null() {
            return Err(Error::Invalid("connect request without a device"));
        }
        // SAFETY: all-zero is a valid `ibv_device_attr` (plain integers and arrays).
        let mut attr: rdma_sys::ibv_device_attr = unsafe { std::mem::zeroed() };
        // SAFETY: a live context and a valid out-pointer.
        let ret = unsafe { rdma_sys::ibv_query_device(ctx, &mut attr) };
        if ret != 0 {
            return Err(Error::code("ibv_query_device", ret));
        }
        let cap = |v: i32| u32::try_from(v).unwrap_or(0).max(1);
        let send = spec.send_depth.max(1).min(cap(attr.max_qp_wr));
        let recv = spec.recv_depth.max(1).min(cap(attr.max_qp_wr));
        self.send_depth = send;
        self.max_init_rd_atom = u8::try_from(attr.max_qp_init_rd_atom.max(0)).unwrap_or(u8::MAX);
        self.max_rd_atom = u8::try_from(attr.max_qp_rd_atom.max(0)).unwrap_or(u8::MAX);
        let cqe = send.saturating_add(recv).min(cap(attr.max_cqe));

        // SAFETY: a live context; returns an owned PD or null.
        self.pd = unsafe { rdma_sys::ibv_alloc_pd(ctx) };
        if self.pd.is_null() {
            return Err(Error::last("ibv_alloc_pd"));
        }
        if self.mode == CompletionMode::Event {
            // SAFETY: a live context; returns an owned channel or null.
            self.comp = unsafe { rdma_sys::ibv_create_comp_channel(ctx) };
            if self.comp.is_null() {
                return Err(Error::last("ibv_create_comp_channel"));
            }
            // SAFETY: a live completion channel.
            let fd = unsafe { (*self.comp).fd };
            set_nonblocking(fd)?;
        }
        // SAFETY: a live context; `comp` is null or a live channel of it.
        self.cq = unsafe {
            rdma_sys::ibv_create_cq(
                ctx,
                i32::try_from(cqe).unwrap_or(i32::MAX),
                ptr::null_mut(),
                self.comp,
                0,
            )
        };
        if self.cq.is_null() {
            return Err(Error::last("ibv_create_cq"));
        }
        let mut access = ibv_access_flags::IBV_ACCESS_LOCAL_WRITE.0;
        if spec.remote_access {
            access |= ibv_access_flags::IBV_ACCESS_REMOTE_READ.0
                | ibv_access_flags::IBV_ACCESS_REMOTE_WRITE.0;
        }
        let len = self.region.len();
        let base = self.region.as_mut_ptr();
        // SAFETY: `base..base+len` is the region's allocation, which lives (unmoved) until
        // after the MR is deregistered in `drop`.
        self.mr = unsafe { rdma_sys::ibv_reg_mr(self.pd, base.cast(), len, access as libc::c_int) };
        if self.mr.is_null() {
            return Err(Error::last("ibv_reg_mr"));
        }
        // SAFETY: a live MR.
        self.lkey = unsafe { (*self.mr).lkey };
        // SAFETY: all-zero is a valid `ibv_qp_init_attr` (pointers null, integers zero).
        let mut init: rdma_sys::ibv_qp_init_attr = unsafe { std::mem::zeroed() };
        init.send_cq = self.cq;
        init.recv_cq = self.cq;
        init.cap.max_send_wr = send;
        init.cap.max_recv_wr = recv;
        init.cap.max_send_sge = 1;
        init.cap.max_recv_sge = 1;
        init.qp_type = rdma_sys::ibv_qp_type::IBV_QPT_RC;
        // Signalled per work request: the last of each chain (`flush_send`).
        init.sq_sig_all = 0;
        // SAFETY: a live id on this PD's device; `init` is valid for the call.
        if unsafe { rdma_sys::rdma_create_qp(self.id, self.pd, &mut init) } != 0 {
            return Err(Error::last("rdma_create_qp"));
        }
        self.qp = true;
        self.arm()?;
        Ok(())
    }

    /// Accepts the connection (after the first receives are posted: the peer may send as soon
    /// as it sees the connection established).
    pub fn accept(&mut self, params: &AcceptParams<'_>) -> Result<(), Error> {
        let len = u8::try_from(params.private_data.len())
            .map_err(|_| Error::Invalid("private data longer than 255 bytes"))?;
        // SAFETY: all-zero is a valid `rdma_conn_param`.
        let mut p: rdma_sys::rdma_conn_param = unsafe { std::mem::zeroed() };
        p.private_data = params.private_data.as_ptr().cast();
        p.private_data_len = len;
        p.initiator_depth = params.initiator_depth.min(self.max_init_rd_atom);
        p.responder_resources = params.responder_resources;
        p.retry_count = 7;
        p.rnr_retry_count = 7;
        // SAFETY: a live id with its QP; `p` and the private data it points to are valid for
        // the call (the CM copies them).
        if unsafe { rdma_sys::rdma_accept(self.id, &mut p) } != 0 {
            return Err(Error::last("rdma_accept"));
        }
        self.accepted = true;
        Ok(())
    }

    /// The registered bytes.
    pub fn region(&mut self) -> &mut [u8] {
        self.region.as_mut_slice()
    }

    /// RDMA Reads the device lets one QP have outstanding as initiator.
    pub fn max_init_rd_atom(&self) -> u8 {
        self.max_init_rd_atom
    }

    /// The send queue depth granted.
    pub fn send_depth(&self) -> u32 {
        self.send_depth
    }

    /// Whether the CM reported the connection established.
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// The local and peer addresses.
    pub fn addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>) {
        (self.local, self.peer)
    }

    /// Work requests posted and not yet reported back.
    pub fn outstanding(&self) -> u32 {
        self.send_outstanding.saturating_add(self.recv_outstanding)
    }

    /// Whether the connection is going or gone (disconnect called or reported).
    pub fn is_disconnected(&self) -> bool {
        self.disconnect_called || self.gone_reported
    }

    /// Posts one operation. On failure the operation still comes back, as a failed
    /// completion, so its buffer returns to the engine.
    pub fn post(&mut self, op: DmOp) -> Result<(), Error> {
        self.post_all(std::slice::from_ref(&op))
    }

    /// Posts `ops` in order: the receives as one chained `ibv_post_recv`, then the send-queue
    /// work (Sends, RDMA Writes and Reads, in their order) as one chained `ibv_post_send` — with
    /// soft-RoCE every `ibv_post_send` is a doorbell system call. A [`DmOp::Disconnect`] posts
    /// what came before it first. Every operation that cannot be posted still comes back, as a
    /// failed completion, so its buffer returns to the engine; the first error is returned.
    pub fn post_all(&mut self, ops: &[DmOp]) -> Result<(), Error> {
        let mut result = Ok(());
        let mut keep = |r: Result<(), Error>| {
            if let Err(e) = r {
                if result.is_ok() {
                    result = Err(e);
                }
            }
        };
        for op in ops {
            match *op {
                DmOp::PostRecv { id, buf } => keep(self.chain_recv(id, buf)),
                DmOp::Send {
                    id,
                    buf,
                    invalidate,
                } => {
                    let (opcode, inv) = match invalidate {
                        Some(stag) => (ibv_wr_opcode::IBV_WR_SEND_WITH_INV, stag),
                        None => (ibv_wr_opcode::IBV_WR_SEND, 0),
                    };
                    keep(self.chain_send(id, buf, opcode, inv, None));
                }
                DmOp::RdmaWrite { id, buf, remote } => keep(self.chain_send(
                    id,
                    buf,
                    ibv_wr_opcode::IBV_WR_RDMA_WRITE,
                    0,
                    Some(remote),
                )),
                DmOp::RdmaRead { id, buf, remote } => {
                    keep(self.chain_send(id, buf, ibv_wr_opcode::IBV_WR_RDMA_READ, 0, Some(remote)))
                }
                DmOp::Disconnect => {
                    keep(self.flush_chains());
                    keep(self.disconnect());
                }
                _ => keep(Err(Error::Invalid("unknown operation"))),
            }
        }
        keep(self.flush_chains());
        result
    }

    fn sge(&self, buf: BufRef) -> Result<Sge, Error> {
        if !self.region.contains(buf.offset, buf.len) {
            return Err(Error::Invalid("buffer outside the registered region"));
        }
        Ok(Sge {
            addr: self.region.addr().wrapping_add(u64::from(buf.offset)),
            length: buf.len,
        })
    }

    fn ibv_sge(&self, sge: Sge) -> rdma_sys::ibv_sge {
        rdma_sys::ibv_sge {
            addr: sge.addr,
            length: sge.length,
            lkey: self.lkey,
        }
    }

    /// Adds a receive to the chain; a receive that cannot be posted comes back failed.
    fn chain_recv(&mut self, id: WrId, buf: BufRef) -> Result<(), Error> {
        let sge = if id.0 & RECV_TAG != 0 {
            Err(Error::Invalid("work request id uses the receive tag bit"))
        } else {
            self.sge(buf)
        };
        match sge {
            Ok(sge) => {
                self.chains.recv.push((id.0 | RECV_TAG, sge));
                Ok(())
            }
            Err(e) => {
                self.pending.push_back(DmEvent::RecvError {
                    id,
                    status: WcStatus::Other,
                });
                Err(e)
            }
        }
    }

    /// Adds a send-queue work request to the chain; one that cannot be posted comes back failed.
    fn chain_send(
        &mut self,
        id: WrId,
        buf: BufRef,
        opcode: u32,
        invalidate: u32,
        remote: Option<RemoteBuf>,
    ) -> Result<(), Error> {
        let queued = u32::try_from(self.chains.send.len()).unwrap_or(u32::MAX);
        let sge = if id.0 & RECV_TAG != 0 {
            Err(Error::Invalid("work request id uses the receive tag bit"))
        } else if self.send_outstanding.saturating_add(queued) >= self.send_depth {
            Err(Error::Invalid("send queue full"))
        } else {
            self.sge(buf)
        };
        match sge {
            Ok(sge) => {
                self.chains.send.push(SendWork {
                    id: id.0,
                    sge,
                    opcode,
                    invalidate,
                    remote,
                });
                self.chains.send_bytes = self.chains.send_bytes.saturating_add(sge.length);
                if self.chains.send_bytes >= CHAIN_BYTES {
                    // Large transfers go out as they are produced rather than after the
                    // whole pass: the peer sees data (and answers) sooner. The receives
                    // gathered so far go first, as always: a Send in this chain may answer
                    // the peer, whose next message needs one of them.
                    return self.flush_chains();
                }
                Ok(())
            }
            Err(e) => {
                self.pending.push_back(DmEvent::Done {
                    id,
                    status: WcStatus::Other,
                });
                Err(e)
            }
        }
    }

    /// Posts the chained receives, then the chained send-queue work.
    fn flush_chains(&mut self) -> Result<(), Error> {
        let recv = self.flush_recv();
        let send = self.flush_send();
        recv.and(send)
    }

    fn flush_recv(&mut self) -> Result<(), Error> {
        let work = std::mem::take(&mut self.chains.recv);
        if work.is_empty() {
            self.chains.recv = work;
            return Ok(());
        }
        let mut sges: Vec<rdma_sys::ibv_sge> =
            work.iter().map(|(_, sge)| self.ibv_sge(*sge)).collect();
        let mut wrs: Vec<rdma_sys::ibv_recv_wr> = work
            .iter()
            .map(|(wr_id, _)| rdma_sys::ibv_recv_wr {
                wr_id: *wr_id,
                next: ptr::null_mut(),
                sg_list: ptr::null_mut(),
                num_sge: 1,
            })
            .collect();
        let base = link_chain(&mut wrs, &mut sges);
        let mut bad = ptr::null_mut();
        // SAFETY: the id's QP is live (created in `setup`); `wrs` is a valid chain whose SGEs
        // (in `sges`) lie in the registered region (checked) and outlive the call (the provider
        // copies them).
        let ret = unsafe { rdma_sys::ibv_post_recv((*self.id).qp, base, &mut bad) };
        let posted = if ret == 0 {
            work.len()
        } else {
            chain_index(base, bad, work.len())
        };
        self.recv_outstanding = self
            .recv_outstanding
            .saturating_add(u32::try_from(posted).unwrap_or(u32::MAX));
        for (wr_id, _) in work.iter().skip(posted) {
            self.pending.push_back(DmEvent::RecvError {
                id: WrId(wr_id & !RECV_TAG),
                status: WcStatus::Other,
            });
        }
        self.chains.recv = work;
        self.chains.recv.clear();
        if ret != 0 {
            return Err(Error::code("ibv_post_recv", ret));
        }
        Ok(())
    }

    /// Posts the chained send-queue work, only its last work request signalled. Should the
    /// device take only part of a chain (the depth is checked before, so only a malformed
    /// request could do that), the unsignalled part it took is reported when a later chain
    /// completes, or flushed; if it succeeded silently and nothing follows, teardown's drain
    /// times out on it.
    fn flush_send(&mut self) -> Result<(), Error> {
        let work = std::mem::take(&mut self.chains.send);
        self.chains.send_bytes = 0;
        if work.is_empty() {
            self.chains.send = work;
            return Ok(());
        }
        let mut sges: Vec<rdma_sys::ibv_sge> = work.iter().map(|w| self.ibv_sge(w.sge)).collect();
        let last = work.len().saturating_sub(1);
        let mut wrs: Vec<rdma_sys::ibv_send_wr> = work
            .iter()
            .enumerate()
            .map(|(i, w)| {
                // SAFETY: all-zero is a valid `ibv_send_wr` (null pointers, zero integers/unions).
                let mut wr: rdma_sys::ibv_send_wr = unsafe { std::mem::zeroed() };
                wr.wr_id = w.id;
                wr.num_sge = 1;
                wr.opcode = w.opcode;
                // One completion per chain: the ones before the last are derived from it.
                if i == last {
                    wr.send_flags = ibv_send_flags::IBV_SEND_SIGNALED.0;
                }
                wr.imm_data_invalidated_rkey_union.invalidated_rkey = w.invalidate;
                if let Some(r) = w.remote {
                    wr.wr.rdma = rdma_sys::rdma_t {
                        remote_addr: r.addr,
                        rkey: r.stag,
                    };
                }
                wr
            })
            .collect();
        let base = link_chain(&mut wrs, &mut sges);
        let mut bad = ptr::null_mut();
        // SAFETY: the id's QP is live; `wrs` is a valid chain whose SGEs (in `sges`) lie in the
        // registered region (checked) and outlive the call (the provider copies them).
        let ret = unsafe { rdma_sys::ibv_post_send((*self.id).qp, base, &mut bad) };
        let posted = if ret == 0 {
            work.len()
        } else {
            chain_index(base, bad, work.len())
        };
        self.send_outstanding = self
            .send_outstanding
            .saturating_add(u32::try_from(posted).unwrap_or(u32::MAX));
        for w in work.iter().take(posted) {
            self.sendq.posted(w.id);
        }
        for w in work.iter().skip(posted) {
            self.pending.push_back(DmEvent::Done {
                id: WrId(w.id),
                status: WcStatus::Other,
            });
        }
        self.chains.send = work;
        self.chains.send.clear();
        if ret != 0 {
            return Err(Error::code("ibv_post_send", ret));
        }
        Ok(())
    }

    /// Starts the teardown: disconnects and moves the queue pair to the error state, so every
    /// posted work request comes back flushed. Idempotent.
    pub fn disconnect(&mut self) -> Result<(), Error> {
        if self.disconnect_called {
            return Ok(());
        }
        self.disconnect_called = true;
        let mut result = Ok(());
        if self.accepted {
            // SAFETY: a live, accepted id.
            if unsafe { rdma_sys::rdma_disconnect(self.id) } != 0 {
                result = Err(Error::last("rdma_disconnect"));
            }
        }
        // rdma_disconnect moves an IB/RoCE QP to ERR; make sure of it (also before accept).
        if self.qp {
            // SAFETY: all-zero is a valid `ibv_qp_attr`.
            let mut attr: rdma_sys::ibv_qp_attr = unsafe { std::mem::zeroed() };
            attr.qp_state = ibv_qp_state::IBV_QPS_ERR;
            // SAFETY: the id's QP is live; `attr` is valid for the call.
            let ret = unsafe {
                rdma_sys::ibv_modify_qp(
                    (*self.id).qp,
                    &mut attr,
                    ibv_qp_attr_mask::IBV_QP_STATE.0 as libc::c_int,
                )
            };
            if ret != 0 && result.is_ok() {
                result = Err(Error::code("ibv_modify_qp(ERR)", ret));
            }
        }
        result
    }

    /// Moves what happened into `out`: completions (flushes included), and
    /// [`DmEvent::Disconnected`] once when the peer goes away. Never blocks.
    ///
    /// In event mode the CM and completion channels are read only when [`Self::wait`] saw them
    /// readable (or timed out), and the completion queue is re-armed only before sleeping: a
    /// busy connection makes no system call here.
    pub fn poll(&mut self, out: &mut Vec<DmEvent>) -> Result<usize, Error> {
        let before = out.len();
        if self.cm_ready || self.mode == CompletionMode::BusyPoll {
            self.cm_ready = false;
            self.poll_cm()?;
        }
        if self.comp_ready {
            self.comp_ready = false;
            self.next_comp_event()?;
        }
        self.poll_cq()?;
        out.extend(self.pending.drain(..));
        Ok(out.len().saturating_sub(before))
    }

    /// Blocks until something may have happened or `timeout` passes (event mode), or spins on
    /// the completion queue for up to `timeout` (busy-poll mode).
    ///
    /// Event mode arms the completion queue, then polls it once more (a completion that came
    /// between the last poll and the arming raises no event), and sleeps only when that finds
    /// nothing.
    pub fn wait(&mut self, timeout: Duration) -> Result<(), Error> {
        if !self.pending.is_empty() {
            return Ok(());
        }
        match self.mode {
            CompletionMode::Event => {
                self.arm()?;
                self.poll_cq()?;
                if !self.pending.is_empty() {
                    return Ok(());
                }
                let mut fds = [-1; 2];
                if let Some(ch) = &self.channel {
                    fds[0] = ch.fd();
                }
                if !self.comp.is_null() {
                    // SAFETY: a live completion channel.
                    fds[1] = unsafe { (*self.comp).fd };
                }
                let ready = cm::wait_readable(&fds, timeout)?;
                let [cm, comp] = [ready.first(), ready.get(1)].map(|r| r.copied().unwrap_or(true));
                // Nothing readable: a timeout, so look at both anyway.
                let quiet = !cm && !comp;
                self.cm_ready |= cm || quiet;
                self.comp_ready |= comp || quiet;
                Ok(())
            }
            CompletionMode::BusyPoll => {
                let deadline = Instant::now() + timeout;
                loop {
                    self.poll_cq()?;
                    if !self.pending.is_empty() {
                        return Ok(());
                    }
                    self.idle_rounds = self.idle_rounds.wrapping_add(1);
                    if self.idle_rounds % CM_CHECK_EVERY == 0 {
                        self.poll_cm()?;
                        if !self.pending.is_empty() || Instant::now() >= deadline {
                            return Ok(());
                        }
                    }
                    std::hint::spin_loop();
                }
            }
        }
    }

    fn arm(&mut self) -> Result<(), Error> {
        if self.mode != CompletionMode::Event || self.armed || self.cq.is_null() {
            return Ok(());
        }
        // SAFETY: a live CQ with a completion channel.
        let ret = unsafe { rdma_sys::ibv_req_notify_cq(self.cq, 0) };
        if ret != 0 {
            return Err(Error::code("ibv_req_notify_cq", ret));
        }
        self.armed = true;
        Ok(())
    }

    /// Takes the completion channel's event, if there is one: the queue was armed once, so
    /// it raises at most one event before it is armed again.
    fn next_comp_event(&mut self) -> Result<(), Error> {
        if self.comp.is_null() {
            return Ok(());
        }
        let mut cq = ptr::null_mut();
        let mut ctx = ptr::null_mut();
        // SAFETY: a live, non-blocking completion channel and valid out-pointers.
        let ret = unsafe { rdma_sys::ibv_get_cq_event(self.comp, &mut cq, &mut ctx) };
        if ret != 0 {
            let e = std::io::Error::last_os_error();
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) {
                return Ok(());
            }
            return Err(Error::Verb {
                verb: "ibv_get_cq_event",
                source: e,
            });
        }
        // SAFETY: `cq` is the CQ the event was for (ours, the only one on the channel);
        // acknowledged at once so destroying the CQ never waits.
        unsafe { rdma_sys::ibv_ack_cq_events(cq, 1) };
        self.armed = false;
        Ok(())
    }

    fn poll_cq(&mut self) -> Result<(), Error> {
        loop {
            // SAFETY: all-zero is a valid `ibv_wc` array.
            let mut wcs: [ibv_wc; POLL_BATCH] = unsafe { std::mem::zeroed() };
            // SAFETY: a live CQ; `wcs` has room for `POLL_BATCH` entries.
            let n = unsafe { rdma_sys::ibv_poll_cq(self.cq, POLL_BATCH as i32, wcs.as_mut_ptr()) };
            if n < 0 {
                return Err(Error::code("ibv_poll_cq", -n));
            }
            let n = usize::try_from(n).unwrap_or(0).min(POLL_BATCH);
            for wc in wcs.iter().take(n) {
                let with_inv = wc.wc_flags & rdma_sys::ibv_wc_flags::IBV_WC_WITH_INV.0 != 0;
                // SAFETY: both members of the union are `u32`; reading either is defined.
                let rkey = unsafe { wc.imm_data_invalidated_rkey_union.invalidated_rkey };
                let c = Completion {
                    wr_id: wc.wr_id,
                    status: wc.status,
                    byte_len: wc.byte_len,
                    with_inv,
                    invalidated_rkey: rkey,
                };
                if c.is_recv() {
                    self.recv_outstanding = self.recv_outstanding.saturating_sub(1);
                } else {
                    let done = self.sendq.complete(c.wr_id, &mut self.pending);
                    self.send_outstanding = self.send_outstanding.saturating_sub(done);
                }
                self.pending.push_back(c.event());
            }
            if n < POLL_BATCH {
                return Ok(());
            }
        }
    }

    fn poll_cm(&mut self) -> Result<(), Error> {
        let Some(channel) = &self.channel else {
            return Ok(());
        };
        let mut gone = false;
        while let Some(e) = channel.next()? {
            match e.kind {
                ev::RDMA_CM_EVENT_ESTABLISHED => self.established = true,
                ev::RDMA_CM_EVENT_TIMEWAIT_EXIT => {}
                ev::RDMA_CM_EVENT_DISCONNECTED
                | ev::RDMA_CM_EVENT_DEVICE_REMOVAL
                | ev::RDMA_CM_EVENT_CONNECT_ERROR
                | ev::RDMA_CM_EVENT_UNREACHABLE
                | ev::RDMA_CM_EVENT_REJECTED => {
                    log::debug!(
                        "rdma_cm {:?}: {} (status {})",
                        self.peer,
                        cm::event_name(e.kind),
                        e.status
                    );
                    gone = true;
                }
                other => log::debug!("rdma_cm {:?}: {}", self.peer, cm::event_name(other)),
            }
        }
        if gone && !self.gone_reported {
            self.gone_reported = true;
            // Flush everything posted; the engine hears of the loss first.
            self.pending.push_back(DmEvent::Disconnected);
            let _ = self.disconnect();
        }
        Ok(())
    }

    /// After [`Self::disconnect`]: polls until every posted work request came back or
    /// `timeout` passes, appending the completions to `out`.
    pub fn drain(&mut self, out: &mut Vec<DmEvent>, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        loop {
            self.poll(out)?;
            if self.outstanding() == 0 {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout("flushing posted work requests"));
            }
            self.wait(left.min(Duration::from_millis(50)))?;
        }
    }
}

/// A work request that can be linked into a chain with one scatter/gather entry.
trait ChainedWr {
    fn link(&mut self, sge: *mut rdma_sys::ibv_sge, next: *mut Self);
}

impl ChainedWr for rdma_sys::ibv_recv_wr {
    fn link(&mut self, sge: *mut rdma_sys::ibv_sge, next: *mut Self) {
        self.sg_list = sge;
        self.next = next;
    }
}

impl ChainedWr for rdma_sys::ibv_send_wr {
    fn link(&mut self, sge: *mut rdma_sys::ibv_sge, next: *mut Self) {
        self.sg_list = sge;
        self.next = next;
    }
}

/// Links `wrs` into one chain, each with its entry of `sges`, and returns its head. Neither
/// vector may be moved or resized while the chain is in use.
fn link_chain<W: ChainedWr>(wrs: &mut [W], sges: &mut [rdma_sys::ibv_sge]) -> *mut W {
    let base = wrs.as_mut_ptr();
    let len = wrs.len();
    for (i, (wr, sge)) in wrs.iter_mut().zip(sges.iter_mut()).enumerate() {
        let next = if i + 1 < len {
            // SAFETY: `i + 1` is within `wrs`, so the pointer stays inside the slice.
            unsafe { base.add(i + 1) }
        } else {
            ptr::null_mut()
        };
        wr.link(sge, next);
    }
    base
}

/// How many work requests of a chain starting at `base` were posted when posting failed at
/// `bad` (the first one not posted); all of them failed when `bad` is not in the chain.
fn chain_index<T>(base: *mut T, bad: *mut T, len: usize) -> usize {
    let size = std::mem::size_of::<T>().max(1);
    let offset = (bad as usize).wrapping_sub(base as usize);
    if offset % size == 0 && offset / size < len {
        offset / size
    } else {
        0
    }
}

fn set_nonblocking(fd: libc::c_int) -> Result<(), Error> {
    // SAFETY: fcntl on a descriptor the completion channel owns; no pointers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(Error::last("fcntl(completion channel)"));
    }
    Ok(())
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.accepted {
            if !self.active {
                let _ = cm::reject(self.id, &[]);
            }
        } else if !self.disconnect_called {
            let _ = self.disconnect();
        }
        // Order: QP, CQ, completion channel, MR, PD, id; the event channel and the region
        // (fields) go after.
        // SAFETY: each object was created in `setup` (non-null / flag set), is destroyed once,
        // after everything that refers to it; every CQ and CM event was acknowledged when
        // read, so none of these calls waits.
        unsafe {
            if self.qp {
                rdma_sys::rdma_destroy_qp(self.id);
            }
            if !self.cq.is_null() {
                rdma_sys::ibv_destroy_cq(self.cq);
            }
            if !self.comp.is_null() {
                rdma_sys::ibv_destroy_comp_channel(self.comp);
            }
            if !self.mr.is_null() {
                rdma_sys::ibv_dereg_mr(self.mr);
            }
            for (_, mr) in self.remote_mrs.drain() {
                rdma_sys::ibv_dereg_mr(mr);
            }
            if !self.pd.is_null() {
                rdma_sys::ibv_dealloc_pd(self.pd);
            }
            if !self.id.is_null() {
                rdma_sys::rdma_destroy_id(self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::chain_index;

    #[test]
    fn chain_index_counts_the_work_requests_before_the_bad_one() {
        let mut wrs = [0u64; 4];
        let base = wrs.as_mut_ptr();
        // SAFETY: offsets within the array.
        let at = |i| unsafe { base.add(i) };
        assert_eq!(chain_index(base, base, 4), 0);
        assert_eq!(chain_index(base, at(2), 4), 2);
        assert_eq!(chain_index(base, at(3), 4), 3);
        // Not in the chain (null, past the end, misaligned): nothing was posted.
        assert_eq!(chain_index(base, std::ptr::null_mut(), 4), 0);
        assert_eq!(chain_index(base, at(4), 4), 0);
        let odd = (base as usize + 3) as *mut u64;
        assert_eq!(chain_index(base, odd, 4), 0);
    }
}
