//! The RDMA connection manager side: event channels, the listener, and incoming connect
//! requests with the peer's private data (the iSER CM header, RFC 7145 §9.1 / IBTA annex A12).
//!
//! A connect request's CM id moves (`rdma_migrate_id`) to an event channel of its own as soon
//! as it arrives, so the thread that serves the connection sees its ESTABLISHED and
//! DISCONNECTED events and the listener never does.

use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::ptr;
use std::time::{Duration, Instant};

use rdma_sys::{rdma_cm_event_type as ev, rdma_cm_id, rdma_event_channel};

use crate::addr;
use crate::error::Error;

/// `fd` made non-blocking.
fn set_nonblocking(fd: RawFd, verb: &'static str) -> Result<(), Error> {
    // SAFETY: fcntl on a descriptor we own; F_GETFL/F_SETFL take no pointers.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(Error::last(verb));
    }
    Ok(())
}

/// Waits until one of `fds` is readable or `timeout` passes; returns which are readable.
pub(crate) fn wait_readable(fds: &[RawFd], timeout: Duration) -> Result<Vec<bool>, Error> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structures for the call.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(Error::Verb {
            verb: "poll",
            source: e,
        });
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// An RDMA CM event channel (non-blocking).
#[derive(Debug)]
pub(crate) struct EventChannel(*mut rdma_event_channel);

// SAFETY: librdmacm event channels are plain file descriptors with no thread affinity; the
// owner uses it from one thread at a time.
unsafe impl Send for EventChannel {}

/// What the CM reported, copied out of the event before it is acknowledged.
#[derive(Debug)]
pub(crate) struct CmEvent {
    pub kind: u32,
    pub status: i32,
    pub id: *mut rdma_cm_id,
    pub private_data: Vec<u8>,
    /// RDMA Reads this side may have outstanding towards the peer (the peer's responder
    /// resources; the CM swaps the two when it reports a request).
    pub initiator_depth: u8,
    /// RDMA Reads the peer may have outstanding towards this side.
    pub responder_resources: u8,
}

/// Readable name of a CM event type.
pub(crate) fn event_name(kind: u32) -> String {
    // SAFETY: `rdma_event_str` returns a static NUL-terminated string for any value.
    let s = unsafe { rdma_sys::rdma_event_str(kind) };
    if s.is_null() {
        return format!("event {kind}");
    }
    // SAFETY: non-null static C string from librdmacm.
    unsafe { std::ffi::CStr::from_ptr(s) }
        .to_string_lossy()
        .into_owned()
}

impl EventChannel {
    pub(crate) fn new() -> Result<EventChannel, Error> {
        // SAFETY: no arguments; returns an owned channel or null with errno.
        let ch = unsafe { rdma_sys::rdma_create_event_channel() };
        if ch.is_null() {
            return Err(Error::last("rdma_create_event_channel"));
        }
        let ch = EventChannel(ch);
        set_nonblocking(ch.fd(), "fcntl(rdma event channel)")?;
        Ok(ch)
    }

    /// A new RC (`RDMA_PS_TCP`) CM id reporting its events on this channel; the caller owns it
    /// and must destroy it (`rdma_destroy_id`) before the channel.
    pub(crate) fn create_id(&self) -> Result<*mut rdma_sys::rdma_cm_id, Error> {
        let mut id = ptr::null_mut();
        // SAFETY: a live channel, a valid out-pointer; no context.
        let ret = unsafe {
            rdma_sys::rdma_create_id(
                self.0,
                &mut id,
                ptr::null_mut(),
                rdma_sys::rdma_port_space::RDMA_PS_TCP,
            )
        };
        if ret != 0 || id.is_null() {
            return Err(Error::last("rdma_create_id"));
        }
        Ok(id)
    }

    pub(crate) fn as_ptr(&self) -> *mut rdma_event_channel {
        self.0
    }

    pub(crate) fn fd(&self) -> RawFd {
        // SAFETY: the channel is live for `self`'s lifetime.
        unsafe { (*self.0).fd }
    }

    /// The next event, if one is queued.
    pub(crate) fn next(&self) -> Result<Option<CmEvent>, Error> {
        let mut event = ptr::null_mut();
        // SAFETY: a live channel and a valid out-pointer.
        let ret = unsafe { rdma_sys::rdma_get_cm_event(self.0, &mut event) };
        if ret != 0 || event.is_null() {
            let e = std::io::Error::last_os_error();
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
            ) {
                return Ok(None);
            }
            return Err(Error::Verb {
                verb: "rdma_get_cm_event",
                source: e,
            });
        }
        // SAFETY: `event` is a live event until acknowledged below; for connection events of
        // an RC id the parameter union holds `conn`, whose private data (when non-null) has
        // `private_data_len` readable bytes owned by the event.
        let copied = unsafe {
            let e = &*event;
            let conn = e.param.conn;
            let private_data = if conn.private_data.is_null() {
                Vec::new()
            } else {
                std::slice::from_raw_parts(
                    conn.private_data.cast::<u8>(),
                    usize::from(conn.private_data_len),
                )
                .to_vec()
            };
            let with_conn = matches!(
                e.event,
                ev::RDMA_CM_EVENT_CONNECT_REQUEST
                    | ev::RDMA_CM_EVENT_ESTABLISHED
                    | ev::RDMA_CM_EVENT_REJECTED
                    | ev::RDMA_CM_EVENT_CONNECT_RESPONSE
            );
            CmEvent {
                kind: e.event,
                status: e.status,
                id: e.id,
                private_data: if with_conn { private_data } else { Vec::new() },
                initiator_depth: if with_conn { conn.initiator_depth } else { 0 },
                responder_resources: if with_conn {
                    conn.responder_resources
                } else {
                    0
                },
            }
        };
        // SAFETY: acknowledges the event we got above, once; nothing points into it any more.
        unsafe { rdma_sys::rdma_ack_cm_event(event) };
        Ok(Some(copied))
    }
}

impl Drop for EventChannel {
    fn drop(&mut self) {
        // SAFETY: created by `rdma_create_event_channel`, destroyed once, after every id on it
        // (owners drop their ids first).
        unsafe { rdma_sys::rdma_destroy_event_channel(self.0) }
    }
}

/// The local and peer addresses of a CM id.
///
/// # Safety
/// `id` must be a live CM id.
pub(crate) unsafe fn id_addrs(id: *mut rdma_cm_id) -> (Option<SocketAddr>, Option<SocketAddr>) {
    // SAFETY: live id per the contract; the route's address fields are storage-sized unions.
    unsafe {
        let local = addr::from_sockaddr(rdma_sys::rdma_get_local_addr(&*id));
        let peer = addr::from_sockaddr(rdma_sys::rdma_get_peer_addr(&*id));
        (local, peer)
    }
}

/// An RDMA CM listener (TCP port space: iSER shares the iSCSI port numbers, RFC 7145 §5.1).
#[derive(Debug)]
pub struct Listener {
    id: *mut rdma_cm_id,
    channel: EventChannel,
    addr: SocketAddr,
}

// SAFETY: the listener exclusively owns its CM id and channel; librdmacm ids have no thread
// affinity.
unsafe impl Send for Listener {}

impl Listener {
    /// Binds `addr` (a wildcard address listens on every RDMA device) and listens.
    pub fn bind(addr: SocketAddr, backlog: i32) -> Result<Listener, Error> {
        let channel = EventChannel::new()?;
        let id = channel.create_id()?;
        let mut listener = Listener { id, channel, addr };
        let mut storage = addr::to_storage(addr);
        // SAFETY: a live id; `storage` holds a sockaddr of `addr`'s family.
        let ret = unsafe {
            rdma_sys::rdma_bind_addr(id, (&mut storage as *mut libc::sockaddr_storage).cast())
        };
        if ret != 0 {
            return Err(Error::last("rdma_bind_addr"));
        }
        // SAFETY: a live, bound id.
        if unsafe { rdma_sys::rdma_listen(id, backlog) } != 0 {
            return Err(Error::last("rdma_listen"));
        }
        // SAFETY: a live id.
        if let (Some(local), _) = unsafe { id_addrs(id) } {
            listener.addr = local;
        }
        Ok(listener)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Waits up to `timeout` for a connect request. Other events on the listener are logged
    /// and dropped.
    pub fn get_request(&self, timeout: Duration) -> Result<Option<ConnectRequest>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            while let Some(e) = self.channel.next()? {
                if e.kind != ev::RDMA_CM_EVENT_CONNECT_REQUEST {
                    log::debug!(
                        "rdma_cm on {}: {} (status {})",
                        self.addr,
                        event_name(e.kind),
                        e.status
                    );
                    continue;
                }
                match ConnectRequest::new(e) {
                    Ok(r) => return Ok(Some(r)),
                    Err(err) => log::warn!("rdma_cm connect request on {}: {err}", self.addr),
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            wait_readable(&[self.channel.fd()], left)?;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // SAFETY: the listening id, destroyed once; its events were all acknowledged.
        unsafe { rdma_sys::rdma_destroy_id(self.id) };
    }
}

/// An incoming connection, not yet accepted. Dropping it rejects it.
#[derive(Debug)]
pub struct ConnectRequest {
    pub(crate) id: *mut rdma_cm_id,
    pub(crate) channel: Option<EventChannel>,
    private_data: Vec<u8>,
    initiator_depth: u8,
    responder_resources: u8,
    local: Option<SocketAddr>,
    peer: Option<SocketAddr>,
}

// SAFETY: the request exclusively owns its CM id (migrated to its own channel); librdmacm ids
// have no thread affinity, so the serving thread may take it over.
unsafe impl Send for ConnectRequest {}

impl ConnectRequest {
    fn new(e: CmEvent) -> Result<ConnectRequest, Error> {
        let mut req = ConnectRequest {
            id: e.id,
            channel: None,
            private_data: e.private_data,
            initiator_depth: e.initiator_depth,
            responder_resources: e.responder_resources,
            local: None,
            peer: None,
        };
        let channel = EventChannel::new()?;
        // SAFETY: a live id whose only event (the request) was acknowledged, so the migration
        // does not wait; the new channel outlives the id (the request or connection drops the
        // id first).
        if unsafe { rdma_sys::rdma_migrate_id(req.id, channel.as_ptr()) } != 0 {
            return Err(Error::last("rdma_migrate_id"));
        }
        req.channel = Some(channel);
        // SAFETY: a live id.
        (req.local, req.peer) = unsafe { id_addrs(req.id) };
        Ok(req)
    }

    /// The private data of the request (the iSER CM header; the IB CM pads it to 56 bytes).
    pub fn private_data(&self) -> &[u8] {
        &self.private_data
    }

    /// RDMA Reads we may have outstanding towards the peer (its responder resources).
    pub fn initiator_depth(&self) -> u8 {
        self.initiator_depth
    }

    /// RDMA Reads the peer wants to have outstanding towards us.
    pub fn responder_resources(&self) -> u8 {
        self.responder_resources
    }

    /// The address the peer connected to.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Refuses the connection, sending `private_data` (at most 255 bytes) in the reject.
    pub fn reject(mut self, private_data: &[u8]) -> Result<(), Error> {
        let r = reject(self.id, private_data);
        // SAFETY: the id is ours; rejected, it is destroyed once here and never used again.
        unsafe { rdma_sys::rdma_destroy_id(self.id) };
        self.id = ptr::null_mut();
        r
    }

    /// Hands the id and its channel to a connection (which then owns them).
    pub(crate) fn take(mut self) -> (*mut rdma_cm_id, Option<EventChannel>) {
        let id = std::mem::replace(&mut self.id, ptr::null_mut());
        (id, self.channel.take())
    }
}

/// Sends a CM reject for `id`.
pub(crate) fn reject(id: *mut rdma_cm_id, private_data: &[u8]) -> Result<(), Error> {
    let len = u8::try_from(private_data.len()).map_err(|_| Error::Invalid("private data"))?;
    let data = if private_data.is_empty() {
        ptr::null()
    } else {
        private_data.as_ptr().cast()
    };
    // SAFETY: a live id of a connect request; `data` points to `len` readable bytes (copied by
    // the call).
    if unsafe { rdma_sys::rdma_reject(id, data, len) } != 0 {
        return Err(Error::last("rdma_reject"));
    }
    Ok(())
}

impl Drop for ConnectRequest {
    fn drop(&mut self) {
        if self.id.is_null() {
            return;
        }
        let _ = reject(self.id, &[]);
        // SAFETY: the id is ours and destroyed once; the channel (a field) is dropped after.
        unsafe { rdma_sys::rdma_destroy_id(self.id) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the kernel has no RDMA (CI hosts) binding fails with a clear, named error; where
    /// it has (the test VM) a wildcard bind on an ephemeral port works.
    #[test]
    fn bind_or_clear_error() {
        match Listener::bind("0.0.0.0:0".parse().unwrap(), 4) {
            Ok(l) => {
                assert!(l.get_request(Duration::from_millis(10)).unwrap().is_none());
            }
            Err(e) => {
                assert!(e.is_no_device(), "{e}");
                assert!(e.to_string().starts_with("rdma_"), "{e}");
            }
        }
    }

    #[test]
    fn event_names() {
        assert_eq!(
            event_name(ev::RDMA_CM_EVENT_CONNECT_REQUEST),
            "RDMA_CM_EVENT_CONNECT_REQUEST"
        );
    }
}
