//! The active side of the RDMA CM: resolve the peer's address and route, build the verbs
//! objects, then connect with the iSER CM private data (RFC 7145 §9.1; IBTA annex A12) and wait
//! for the peer to accept or reject.

use std::net::SocketAddr;
use std::ptr;
use std::time::{Duration, Instant};

use rdma_sys::rdma_cm_event_type as ev;

use crate::addr;
use crate::cm::{self, CmEvent, EventChannel};
use crate::conn::{Connection, QueueSpec};
use crate::error::Error;

/// What the connect request tells the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectParams<'a> {
    /// Private data of the request (the iSER CM header).
    pub private_data: &'a [u8],
    /// RDMA Reads we will have outstanding towards the peer at most (capped by the device).
    pub initiator_depth: u8,
    /// RDMA Reads the peer may have outstanding towards us (capped by the device); an iSER
    /// initiator offers what it can, as the target reads write data with RDMA Reads.
    pub responder_resources: u8,
}

/// What the peer answered when it accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// Private data of the reply (the iSER CM header of the target).
    pub private_data: Vec<u8>,
    /// RDMA Reads the peer may have outstanding towards us.
    pub responder_resources: u8,
    /// RDMA Reads we may have outstanding towards the peer.
    pub initiator_depth: u8,
}

/// Milliseconds for the CM's resolve calls.
fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX).max(1)
}

/// Waits for the next event on `channel` until `deadline`.
fn next_event(
    channel: &EventChannel,
    deadline: Instant,
    what: &'static str,
) -> Result<CmEvent, Error> {
    loop {
        if let Some(e) = channel.next()? {
            return Ok(e);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout(what));
        }
        cm::wait_readable(&[channel.fd()], left)?;
    }
}

/// Waits for `want`; any other event ends the wait with an error naming the stage.
fn expect(
    channel: &EventChannel,
    want: u32,
    deadline: Instant,
    stage: &'static str,
) -> Result<CmEvent, Error> {
    let e = next_event(channel, deadline, stage)?;
    if e.kind == want {
        return Ok(e);
    }
    if e.kind == ev::RDMA_CM_EVENT_REJECTED {
        return Err(Error::Rejected {
            status: e.status,
            private_data: e.private_data,
        });
    }
    Err(Error::Cm {
        stage,
        event: cm::event_name(e.kind),
        status: e.status,
    })
}

impl Connection {
    /// Resolves `peer` (address, then route) and builds the connection's protection domain,
    /// completion queue, queue pair and registered region, ready for receives but not yet
    /// connected: post the first receives, then [`Connection::connect`].
    ///
    /// Where the machine has no RDMA, the error is [`Error::is_no_device`].
    pub fn resolve(
        peer: SocketAddr,
        spec: &QueueSpec,
        timeout: Duration,
    ) -> Result<Connection, Error> {
        let deadline = Instant::now() + timeout;
        let channel = EventChannel::new()?;
        let id = channel.create_id()?;
        // From here the connection owns the id (and destroys it when dropped).
        let mut c = Connection::bare(id, Some(channel), spec)?;
        c.active = true;
        let mut dst = addr::to_storage(peer);
        // SAFETY: a live id; `dst` holds a sockaddr of `peer`'s family, valid for the call.
        let ret = unsafe {
            rdma_sys::rdma_resolve_addr(
                id,
                ptr::null_mut(),
                (&mut dst as *mut libc::sockaddr_storage).cast(),
                millis(timeout),
            )
        };
        if ret != 0 {
            return Err(Error::last("rdma_resolve_addr"));
        }
        let channel = c
            .channel
            .as_ref()
            .ok_or(Error::Invalid("no event channel"))?;
        expect(
            channel,
            ev::RDMA_CM_EVENT_ADDR_RESOLVED,
            deadline,
            "resolving the address",
        )?;
        // SAFETY: a live id with a resolved address.
        if unsafe { rdma_sys::rdma_resolve_route(id, millis(timeout)) } != 0 {
            return Err(Error::last("rdma_resolve_route"));
        }
        expect(
            channel,
            ev::RDMA_CM_EVENT_ROUTE_RESOLVED,
            deadline,
            "resolving the route",
        )?;
        // SAFETY: a live id.
        (c.local, c.peer) = unsafe { cm::id_addrs(id) };
        c.peer = c.peer.or(Some(peer));
        c.setup(spec)?;
        Ok(c)
    }

    /// Connects (after the first receives are posted: the peer may send as soon as it
    /// accepted) and waits until the connection is established or refused.
    pub fn connect(
        &mut self,
        params: &ConnectParams<'_>,
        timeout: Duration,
    ) -> Result<Accepted, Error> {
        let deadline = Instant::now() + timeout;
        let len = u8::try_from(params.private_data.len())
            .map_err(|_| Error::Invalid("private data longer than 255 bytes"))?;
        // SAFETY: all-zero is a valid `rdma_conn_param`.
        let mut p: rdma_sys::rdma_conn_param = unsafe { std::mem::zeroed() };
        p.private_data = params.private_data.as_ptr().cast();
        p.private_data_len = len;
        p.initiator_depth = params.initiator_depth.min(self.max_init_rd_atom());
        p.responder_resources = params.responder_resources.min(self.max_rd_atom);
        p.retry_count = 7;
        p.rnr_retry_count = 7;
        // SAFETY: a live id with its QP and a resolved route; `p` and the private data it
        // points to are valid for the call (the CM copies them).
        if unsafe { rdma_sys::rdma_connect(self.id, &mut p) } != 0 {
            return Err(Error::last("rdma_connect"));
        }
        let channel = self
            .channel
            .as_ref()
            .ok_or(Error::Invalid("no event channel"))?;
        let e = expect(
            channel,
            ev::RDMA_CM_EVENT_ESTABLISHED,
            deadline,
            "connecting",
        )?;
        self.accepted = true;
        self.established = true;
        Ok(Accepted {
            private_data: e.private_data,
            responder_resources: e.responder_resources,
            initiator_depth: e.initiator_depth,
        })
    }

    /// RDMA Reads the device lets the peer have outstanding towards one QP (responder side).
    pub fn max_rd_atom(&self) -> u8 {
        self.max_rd_atom
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::CompletionMode;

    /// Where the kernel has no RDMA (CI hosts) resolving fails with the no-device error; in the
    /// test VM, nothing listens on port 1 of the loopback address, so the connect is refused or
    /// the address does not resolve to an RDMA device.
    #[test]
    fn resolve_without_rdma_says_so() {
        let spec = QueueSpec {
            region_len: 4096,
            send_depth: 4,
            recv_depth: 4,
            remote_access: false,
            mode: CompletionMode::Event,
        };
        match Connection::resolve(
            "127.0.0.1:1".parse().unwrap(),
            &spec,
            Duration::from_millis(500),
        ) {
            Err(e) if e.is_no_device() => {
                assert!(
                    e.to_string().starts_with("rdma_create_event_channel"),
                    "{e}"
                )
            }
            Err(e) => assert!(
                matches!(e, Error::Cm { .. } | Error::Verb { .. } | Error::Timeout(_)),
                "{e}"
            ),
            Ok(mut c) => {
                let r = c.connect(
                    &ConnectParams {
                        private_data: &[0x80, 0, 0, 0],
                        initiator_depth: 1,
                        responder_resources: 1,
                    },
                    Duration::from_millis(500),
                );
                assert!(r.is_err());
            }
        }
    }
}
