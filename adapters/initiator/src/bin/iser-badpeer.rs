//! `iser-badpeer MODE HOST:PORT TARGET-IQN`: an iSER initiator that misbehaves on purpose, for
//! the VM harness's bad-input scenarios (issue 6): garbage CM private data or messages, a Login
//! before receives are posted, disconnects at every stage of a login and a command, and RDMA
//! Read/Write requests against STags that do not exist. The target must log the reason, clean
//! up and keep serving everyone else; the harness checks that after each mode.
//!
//! Exit status: 0 when the mode ran and the target did what it must (drop a connection that
//! broke the protocol), 2 when it did not, 1 when the mode could not run at all.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use iser_core::dm::iser::{IserConfig, IserInitiator, Registrar};
use iser_core::dm::{BufRef, DmEvent, DmOp, RemoteBuf, WrId};
use iser_core::session::initiator::{
    InitiatorConfig, InitiatorEvent, InitiatorSink, ScsiRequest, TaskHandle,
};
use iser_core::wire::{CmPrivateData, Lun};
use iser_verbs::{CompletionMode, ConnectParams, Connection, MemoryRegistrar, QueueSpec};

const MODES: &[(&str, &str)] = &[
    (
        "garbage-cm-data",
        "56 bytes of 0xff as CM private data, then disconnect",
    ),
    (
        "exit-before-established",
        "rdma_connect, then tear down without waiting",
    ),
    (
        "disconnect-after-connect",
        "connect, disconnect before any message",
    ),
    (
        "garbage-message",
        "connect, send 200 bytes that are not an iSER message",
    ),
    (
        "short-message",
        "connect, send 7 bytes (shorter than the iSER header)",
    ),
    (
        "login-without-receives",
        "send the Login Request with no receive posted for the answer",
    ),
    (
        "disconnect-after-login-sent",
        "send the Login Request, disconnect at once",
    ),
    (
        "disconnect-when-logged-in",
        "log in, disconnect without logout",
    ),
    (
        "disconnect-mid-write",
        "log in, start a 1 MiB WRITE, disconnect at once",
    ),
    (
        "write-invalid-stag",
        "log in, WRITE whose Write STag does not exist (target's RDMA Read fails)",
    ),
    (
        "read-invalid-stag",
        "log in, READ whose Read STag does not exist (target's RDMA Write fails)",
    ),
    (
        "rdma-read-invalid-stag",
        "log in, post an RDMA Read against a target STag that does not exist",
    ),
    (
        "rdma-write-invalid-stag",
        "log in, post an RDMA Write against a target STag that does not exist",
    ),
];

const TASKS: usize = 8;
const BUFS: usize = 64;
const DATA: u32 = 2 << 20;
const IO_LEN: u32 = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long an RDMA operation against a missing STag may take to end the connection: over
/// soft-RoCE under QEMU our own RDMA Read against a bad target STag ends it after ~45 s (the
/// target's NOP-In ping times out); the target's RDMA Read/Write against ours fails at once.
const STAG_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Sink {
    logged_in: bool,
    login_failed: bool,
    done: Vec<TaskHandle>,
}

impl InitiatorSink for Sink {
    fn read_data(&mut self, _: TaskHandle, _: u32, _: &[u8]) {}

    fn event(&mut self, event: InitiatorEvent<'_>) {
        match event {
            InitiatorEvent::LoggedIn { .. } => self.logged_in = true,
            InitiatorEvent::LoginFailed(_) => self.login_failed = true,
            InitiatorEvent::TaskDone { task, .. } => self.done.push(task),
            _ => {}
        }
    }
}

/// STags nobody registered.
struct Bogus;

impl Registrar for Bogus {
    fn register(&mut self, buf: BufRef, _: bool) -> Option<RemoteBuf> {
        Some(RemoteBuf {
            stag: 0x00ba_d5a9,
            addr: 0x7fff_0000_0000 + u64::from(buf.offset),
        })
    }

    fn invalidate(&mut self, _: u32) {}
}

struct Peer {
    conn: Connection,
    engine: Box<IserInitiator<'static, TASKS, BUFS>>,
    sink: Sink,
    epoch: Instant,
    held: Vec<DmOp>,
    gone: bool,
    sends: u32,
}

impl Peer {
    fn now(&self) -> iser_core::time::Instant {
        iser_core::time::Instant(self.epoch.elapsed().as_micros() as u64)
    }

    fn post(&mut self, op: DmOp) {
        if matches!(op, DmOp::Send { .. }) {
            self.sends += 1;
        }
        if let Err(e) = self.conn.post(op) {
            println!("posting {op:?}: {e}");
        }
    }

    /// Posts what the engine has, hands it what happened; true while the connection lives.
    fn pump(&mut self) -> bool {
        let t = self.now();
        while let Some(op) = self.engine.poll_op(self.conn.region(), t) {
            self.post(op);
        }
        let mut events = Vec::new();
        if self.conn.poll(&mut events).is_err() {
            self.gone = true;
        }
        if events.is_empty() {
            let _ = self.conn.wait(Duration::from_millis(50));
            let _ = self.conn.poll(&mut events);
        }
        for ev in events {
            if ev == DmEvent::Disconnected {
                self.gone = true;
            }
            let t = self.now();
            let (region, mut reg) = self.conn.split();
            self.engine
                .handle_event(ev, region, &mut reg, &mut self.sink, t);
        }
        !self.gone && !self.conn.is_disconnected()
    }

    /// Pumps until `done` or the deadline; whether `done` held.
    fn until(&mut self, done: impl Fn(&Peer) -> bool) -> bool {
        let end = Instant::now() + TIMEOUT;
        while Instant::now() < end {
            if done(self) {
                return true;
            }
            if !self.pump() {
                return done(self);
            }
        }
        false
    }

    /// Sends `bytes` raw from the data area.
    fn send_raw(&mut self, bytes: &[u8]) {
        let at = self.engine.control_region_len();
        if let Some(dst) = self.conn.region().get_mut(at..at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.post(DmOp::Send {
            id: WrId(1 << 40),
            buf: BufRef {
                offset: at as u32,
                len: bytes.len() as u32,
            },
            invalidate: None,
        });
    }

    /// Keeps the engine going until the connection ends: the target must drop it (or fail
    /// the command so that the connection ends) within `limit`.
    fn expect_dropped(&mut self, why: &str, limit: Duration) -> ExitCode {
        let start = Instant::now();
        while start.elapsed() < limit {
            if !self.pump() {
                println!(
                    "the connection ended {:.1} s after {why}",
                    start.elapsed().as_secs_f64()
                );
                return ExitCode::SUCCESS;
            }
        }
        println!("the target kept the connection for {limit:?} after {why}");
        ExitCode::from(2)
    }

    fn login(&mut self) -> bool {
        let ok = self.until(|p| p.sink.logged_in || p.sink.login_failed);
        ok && self.sink.logged_in
    }

    /// Two TEST UNIT READYs: the first takes the unit attention a new nexus gets, so the
    /// command after them reaches its data transfer instead of ending in CHECK CONDITION.
    fn clear_unit_attention(&mut self) -> bool {
        let lun = Lun::from_index(0).unwrap_or(Lun(0));
        let tur = [0u8; 6];
        for _ in 0..2 {
            let done = self.sink.done.len();
            let (_, mut reg) = self.conn.split();
            let none = BufRef { offset: 0, len: 0 };
            if self
                .engine
                .submit(&ScsiRequest::no_data(lun, &tur), none, &mut reg)
                .is_err()
                || !self.until(|p| p.sink.done.len() > done)
            {
                return false;
            }
        }
        true
    }

    fn hang_up(mut self, what: &str) -> ExitCode {
        let _ = self.conn.disconnect();
        let mut events = Vec::new();
        let _ = self.conn.drain(&mut events, Duration::from_secs(2));
        println!("{what}");
        ExitCode::SUCCESS
    }
}

fn open(addr: SocketAddr, target: &'static str, mode: &str) -> Result<Peer, String> {
    let iser = IserConfig::default();
    let cfg = InitiatorConfig::new("iqn.2026-11.rs.iserd:badpeer", Some(target));
    let epoch = Instant::now();
    let engine = Box::new(IserInitiator::new(
        &cfg,
        iser,
        [7; 32],
        iser_core::time::Instant(0),
    ));
    let control = engine.control_region_len() as u32;
    let spec = QueueSpec {
        region_len: (control + DATA) as usize,
        send_depth: 64,
        recv_depth: u32::from(iser.recv_depth),
        remote_access: false,
        mode: CompletionMode::Event,
    };
    let conn = Connection::resolve(addr, &spec, TIMEOUT).map_err(|e| e.to_string())?;
    let mut p = Peer {
        conn,
        engine,
        sink: Sink::default(),
        epoch,
        held: Vec::new(),
        gone: false,
        sends: 0,
    };
    let t = p.now();
    while let Some(op) = p.engine.poll_op(p.conn.region(), t) {
        match op {
            DmOp::PostRecv { .. } if mode != "login-without-receives" => p.post(op),
            other => p.held.push(other),
        }
    }
    let mut cm = [0u8; 56];
    if mode == "garbage-cm-data" {
        cm.fill(0xff);
    } else {
        let _ = CmPrivateData::LINUX_INITIATOR.emit(&mut cm);
    }
    let wait = if mode == "exit-before-established" {
        Duration::from_millis(1)
    } else {
        TIMEOUT
    };
    let params = ConnectParams {
        private_data: if mode == "garbage-cm-data" {
            &cm
        } else {
            &cm[..4]
        },
        initiator_depth: 1,
        responder_resources: p.conn.max_rd_atom().max(1),
    };
    let accepted = p
        .conn
        .connect(&params, wait)
        .map_err(|e| format!("connect: {e}"))?;
    let peer_cm = CmPrivateData::parse(&accepted.private_data).unwrap_or_default();
    let t = p.now();
    p.engine.connected(peer_cm, t);
    if mode != "login-without-receives" {
        for op in std::mem::take(&mut p.held) {
            p.post(op);
        }
    }
    Ok(p)
}

fn run(mode: &str, addr: SocketAddr, target: &'static str) -> ExitCode {
    let mut p = match open(addr, target, mode) {
        Ok(p) => p,
        Err(e) if mode == "exit-before-established" => {
            println!("torn down before the connection was established ({e})");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            println!("{e}");
            return ExitCode::from(1);
        }
    };
    match mode {
        "garbage-cm-data" => {
            p.hang_up("the target accepted 0xff flags (reserved bits ignored); disconnected")
        }
        "exit-before-established" => p.hang_up("established before the teardown; disconnected"),
        "disconnect-after-connect" => p.hang_up("disconnected before any message"),
        "garbage-message" => {
            let junk: Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
            p.send_raw(&junk);
            p.expect_dropped("a message that is not iSER", TIMEOUT)
        }
        "short-message" => {
            p.send_raw(&[0x10, 0, 0, 0, 0, 0, 0]);
            p.expect_dropped("a 7-byte message", TIMEOUT)
        }
        "login-without-receives" => {
            for op in std::mem::take(&mut p.held) {
                if !matches!(op, DmOp::PostRecv { .. }) {
                    p.post(op);
                }
            }
            let t = p.now();
            while let Some(op) = p.engine.poll_op(p.conn.region(), t) {
                if !matches!(op, DmOp::PostRecv { .. }) {
                    p.post(op);
                }
            }
            std::thread::sleep(Duration::from_secs(2));
            p.hang_up("sent the Login Request with no receive posted; disconnected after 2 s")
        }
        "disconnect-after-login-sent" => {
            if !p.until(|p| p.sends > 0) {
                println!("the Login Request never went out");
                return ExitCode::from(1);
            }
            p.hang_up("disconnected right after the Login Request")
        }
        "disconnect-when-logged-in" => {
            if !p.login() {
                println!("login failed");
                return ExitCode::from(1);
            }
            p.hang_up("logged in, disconnected without logout")
        }
        "rdma-read-invalid-stag" | "rdma-write-invalid-stag" => {
            if !p.login() {
                println!("login failed");
                return ExitCode::from(1);
            }
            let buf = BufRef {
                offset: p.engine.control_region_len() as u32,
                len: 4096,
            };
            let remote = RemoteBuf {
                stag: 0x00ba_d5a9,
                addr: 0x1000,
            };
            let id = WrId(1 << 41);
            p.post(if mode == "rdma-read-invalid-stag" {
                DmOp::RdmaRead { id, buf, remote }
            } else {
                DmOp::RdmaWrite { id, buf, remote }
            });
            p.expect_dropped("an RDMA operation against an invalid STag", STAG_TIMEOUT)
        }
        "disconnect-mid-write" | "write-invalid-stag" | "read-invalid-stag" => {
            if !p.login() {
                println!("login failed");
                return ExitCode::from(1);
            }
            if !p.clear_unit_attention() {
                println!("TEST UNIT READY failed");
                return ExitCode::from(1);
            }
            let read = mode == "read-invalid-stag";
            let blocks = IO_LEN / 512;
            let mut cdb = [0u8; 16];
            cdb[0] = if read { 0x88 } else { 0x8a };
            cdb[10..14].copy_from_slice(&blocks.to_be_bytes());
            let lun = Lun::from_index(0).unwrap_or(Lun(0));
            let req = if read {
                ScsiRequest::read(lun, &cdb, IO_LEN)
            } else {
                ScsiRequest::write(lun, &cdb, IO_LEN)
            };
            let buf = BufRef {
                offset: p.engine.control_region_len() as u32,
                len: IO_LEN,
            };
            let sends = p.sends;
            let submitted = if mode == "disconnect-mid-write" {
                let (_, mut reg): (_, MemoryRegistrar<'_>) = p.conn.split();
                p.engine.submit(&req, buf, &mut reg)
            } else {
                p.engine.submit(&req, buf, &mut Bogus)
            };
            if let Err(e) = submitted {
                println!("submit: {e:?}");
                return ExitCode::from(1);
            }
            if mode == "disconnect-mid-write" {
                p.until(|p| p.sends > sends);
                return p.hang_up("disconnected right after the WRITE went out");
            }
            let t = p.now();
            while let Some(op) = p.engine.poll_op(p.conn.region(), t) {
                p.post(op);
            }
            let why = if read {
                "a READ with an invalid Read STag"
            } else {
                "a WRITE with an invalid Write STag"
            };
            p.expect_dropped(why, STAG_TIMEOUT)
        }
        other => {
            println!("unknown mode {other}; --list shows them");
            ExitCode::from(1)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--list") {
        for (m, _) in MODES {
            println!("{m}");
        }
        return ExitCode::SUCCESS;
    }
    let [mode, portal, target] = args.as_slice() else {
        eprintln!("usage: iser-badpeer MODE HOST:PORT TARGET-IQN | --list");
        for (m, what) in MODES {
            eprintln!("  {m:28} {what}");
        }
        return ExitCode::from(1);
    };
    let Some(addr) = portal.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        eprintln!("bad address {portal}");
        return ExitCode::from(1);
    };
    let target: &'static str = Box::leak(target.clone().into_boxed_str());
    println!("iser-badpeer {mode} -> {addr}");
    run(mode, addr, target)
}
