//! The server: binds every portal, accepts connections (one thread each), and shuts down
//! cleanly — stop accepting, close every connection, wait for their threads.

pub mod iser;
pub mod tcp;
pub mod transport;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::daemon::{lock, Daemon};
use transport::Listener;

/// How long shutdown waits for connection threads before giving up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
pub(crate) struct Connections {
    pub(crate) next_id: AtomicU64,
    /// Open sockets, to shut down on exit.
    sockets: Mutex<BTreeMap<u64, TcpStream>>,
    pub(crate) threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Why the server could not start.
#[derive(Debug)]
pub struct BindError {
    /// The portal address.
    pub addr: SocketAddr,
    /// The OS error.
    pub source: io::Error,
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot listen on {}: {}", self.addr, self.source)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Bound listeners ready to serve.
#[derive(Debug)]
pub struct Server {
    daemon: Arc<Daemon>,
    listeners: Vec<(Listener, SocketAddr, u16)>,
    conns: Arc<Connections>,
}

/// Stops a running [`Server`] from another thread (a signal handler thread).
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    daemon: Arc<Daemon>,
    addrs: Vec<SocketAddr>,
    conns: Arc<Connections>,
}

impl ShutdownHandle {
    /// Begins shutdown: no more accepts, every connection closed.
    pub fn trigger(&self) {
        if self.daemon.is_shutting_down() {
            return;
        }
        self.daemon.begin_shutdown();
        for s in lock(&self.conns.sockets).values() {
            let _ = s.shutdown(Shutdown::Both);
        }
        // Wake the accept loops with a connection each.
        for a in &self.addrs {
            let mut to = *a;
            if to.ip().is_unspecified() {
                to.set_ip(match to {
                    SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            let _ = TcpStream::connect_timeout(&to, Duration::from_millis(200));
        }
    }
}

impl Server {
    /// Binds every configured portal and prints `listening on ADDR` for each on stdout.
    pub fn bind(daemon: Arc<Daemon>) -> Result<Server, BindError> {
        let rdma = transport::log_rdma_status(&daemon.config.portals);
        let mut listeners = Vec::new();
        for p in &daemon.config.portals {
            let bound = transport::bind(p, rdma).map_err(|source| BindError {
                addr: p.listen,
                source,
            })?;
            for l in bound {
                let addr = l.local_addr().map_err(|source| BindError {
                    addr: p.listen,
                    source,
                })?;
                if let Listener::Iser(_) = l {
                    log::info!(
                        "listening on {addr} (iSER, portal group {}); try: iscsiadm -m discovery -t st -p {addr} -I iser",
                        p.group_tag
                    );
                } else {
                    log::info!(
                        "listening on {addr} ({}, portal group {}); try: iscsi-ls -s iscsi://{addr}",
                        l.kind(),
                        p.group_tag
                    );
                    let mut out = io::stdout().lock();
                    let _ = writeln!(out, "listening on {addr}");
                    let _ = out.flush();
                }
                listeners.push((l, addr, p.group_tag));
            }
        }
        Ok(Server {
            daemon,
            listeners,
            conns: Arc::new(Connections::default()),
        })
    }

    /// The addresses actually bound (TCP; iSER listeners share them).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter(|(l, _, _)| matches!(l, Listener::Tcp(_)))
            .map(|(_, a, _)| *a)
            .collect()
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle {
            daemon: self.daemon.clone(),
            addrs: self.local_addrs(),
            conns: self.conns.clone(),
        }
    }

    /// Accepts until shutdown, then waits (up to a few seconds) for connections to close.
    /// Logical units' background work runs on its own thread meanwhile.
    pub fn run(self) {
        let background = {
            let daemon = self.daemon.clone();
            std::thread::Builder::new()
                .name("background".into())
                .spawn(move || daemon.run_background())
        };
        if let Err(e) = &background {
            log::error!("cannot start the background thread: {e}");
        }
        let mut acceptors = Vec::new();
        for (listener, addr, tag) in self.listeners {
            let daemon = self.daemon.clone();
            let conns = self.conns.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("accept {addr}"))
                .spawn(move || accept_loop(listener, tag, daemon, conns));
            match spawned {
                Ok(h) => acceptors.push(h),
                Err(e) => log::error!("cannot start the accept thread for {addr}: {e}"),
            }
        }
        for h in acceptors {
            let _ = h.join();
        }
        if let Ok(h) = background {
            let _ = h.join();
        }
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        loop {
            let threads = std::mem::take(&mut *lock(&self.conns.threads));
            let (done, running): (Vec<_>, Vec<_>) =
                threads.into_iter().partition(|h| h.is_finished());
            for h in done {
                let _ = h.join();
            }
            if running.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                log::warn!("{} connection(s) did not close in time", running.len());
                break;
            }
            lock(&self.conns.threads).extend(running);
            std::thread::sleep(Duration::from_millis(20));
        }
        log::info!("stopped");
    }
}

fn accept_loop(listener: Listener, tag: u16, daemon: Arc<Daemon>, conns: Arc<Connections>) {
    let listener = match listener {
        Listener::Tcp(l) => l,
        Listener::Iser(l) => return iser::accept_loop(l, tag, daemon, conns),
    };
    for incoming in listener.incoming() {
        if daemon.is_shutting_down() {
            break;
        }
        let stream = match incoming {
            Ok(s) => s,
            Err(e) => {
                log::warn!("accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let id = conns.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(s) = stream.try_clone() {
            lock(&conns.sockets).insert(id, s);
        }
        let d = daemon.clone();
        let c = conns.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("conn {id}"))
            .spawn(move || {
                tcp::serve(d, stream, tag);
                lock(&c.sockets).remove(&id);
            });
        let mut threads = lock(&conns.threads);
        threads.retain(|h| !h.is_finished());
        match spawned {
            Ok(h) => threads.push(h),
            Err(e) => {
                log::error!("cannot start a connection thread: {e}");
                lock(&conns.sockets).remove(&id);
            }
        }
    }
}
