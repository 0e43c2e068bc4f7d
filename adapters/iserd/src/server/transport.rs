//! The transports a portal can serve, and the seam where iSER (RFC 7145) will join iSCSI/TCP
//! (RFC 7143) on the same portal: a verbs listener beside the TCP one, chosen per portal.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;

use crate::config::{Portal, TransportChoice};

/// A bound listener of some transport.
#[derive(Debug)]
#[non_exhaustive]
pub enum Listener {
    /// iSCSI over TCP.
    Tcp(TcpListener),
    // Iser(VerbsListener): an RDMA CM listener on the same address; its connections run the
    // core's iSER datamover instead of the TCP byte stream.
}

impl Listener {
    /// The address actually bound (with the port chosen when the portal asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr(),
        }
    }

    /// Short transport name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Listener::Tcp(_) => "iSCSI/TCP",
        }
    }
}

/// Names of the RDMA devices the kernel knows (`/sys/class/infiniband`).
pub fn rdma_devices() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(Path::new("/sys/class/infiniband"))
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Logs, once, what iSER would have on this machine; TCP is served in every case.
pub fn log_rdma_status(portals: &[Portal]) {
    if !portals.iter().any(|p| p.transport == TransportChoice::Auto) {
        return;
    }
    let devices = rdma_devices();
    if devices.is_empty() {
        log::info!("no RDMA devices found; serving iSCSI/TCP only");
    } else {
        log::info!(
            "RDMA devices present ({}), but this build has no iSER listener yet; serving iSCSI/TCP only",
            devices.join(", ")
        );
    }
}

/// Binds the listeners of one portal.
pub fn bind(portal: &Portal) -> std::io::Result<Vec<Listener>> {
    Ok(vec![Listener::Tcp(TcpListener::bind(portal.listen)?)])
}
