//! The transports a portal serves: iSCSI/TCP (RFC 7143) always, and iSER (RFC 7145) beside it
//! on the same address and port when the machine has an RDMA device — an RDMA CM listener next
//! to the TCP one (the two port spaces are separate), as the illumos target bound its iSER
//! service on every port.

use std::net::{SocketAddr, TcpListener};

use crate::config::{Portal, TransportChoice};

/// A bound listener of some transport.
#[derive(Debug)]
#[non_exhaustive]
pub enum Listener {
    /// iSCSI over TCP.
    Tcp(TcpListener),
    /// iSER: an RDMA CM listener; its connections run the core's iSER datamover.
    Iser(iser_verbs::Listener),
}

impl Listener {
    /// The address actually bound (with the port chosen when the portal asked for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr(),
            Listener::Iser(l) => Ok(l.local_addr()),
        }
    }

    /// Short transport name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Listener::Tcp(_) => "iSCSI/TCP",
            Listener::Iser(_) => "iSER",
        }
    }
}

/// Names of the RDMA devices, or why there are none.
pub fn rdma_devices() -> Result<Vec<String>, iser_verbs::Error> {
    Ok(iser_verbs::devices()?.into_iter().map(|d| d.name).collect())
}

/// Whether any portal wants iSER where it can have it; logs, once, what this machine offers.
/// Returns whether iSER listeners should be tried.
pub fn log_rdma_status(portals: &[Portal]) -> bool {
    if !portals.iter().any(|p| p.transport == TransportChoice::Auto) {
        return false;
    }
    match rdma_devices() {
        Ok(devices) => {
            log::info!(
                "RDMA devices: {}; serving iSER beside iSCSI/TCP",
                devices.join(", ")
            );
            true
        }
        Err(e) => {
            log::info!("{e}; serving iSCSI/TCP only");
            false
        }
    }
}

/// Binds the listeners of one portal: TCP, then (with `rdma`) iSER on the address and port the
/// TCP listener got. An iSER bind failure is logged and leaves the portal TCP-only.
pub fn bind(portal: &Portal, rdma: bool) -> std::io::Result<Vec<Listener>> {
    let tcp = TcpListener::bind(portal.listen)?;
    let addr = tcp.local_addr()?;
    let mut out = vec![Listener::Tcp(tcp)];
    if rdma && portal.transport == TransportChoice::Auto {
        match super::iser::listen(addr) {
            Ok(l) => out.push(Listener::Iser(l)),
            Err(e) => log::warn!("{addr}: no iSER listener ({e}); iSCSI/TCP only"),
        }
    }
    Ok(out)
}
