//! Access control and resource limits against the running `iserd` binary (RFC 7143 §6.3,
//! §11.12–13): address and name ACLs with their Login status and SendTargets filtering, and
//! every limit a hostile or broken initiator could push — sessions, connections per session,
//! the CmdSN window, login stalls, Login Request rounds, text length and data segment length.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use iser_core::session::chap::{decode_binary, ChapAlgorithm, MAX_DIGEST_LEN};
use iser_initiator::session::{Error, Options, Session};

const OPEN: &str = "iqn.2026-11.rs.iserd:open";
const LAN: &str = "iqn.2026-11.rs.iserd:lan";
const LOOP4: &str = "iqn.2026-11.rs.iserd:loop4";
const LOOP6: &str = "iqn.2026-11.rs.iserd:loop6";
const NAMED: &str = "iqn.2026-11.rs.iserd:named";
const ME: &str = "iqn.2026-11.rs.iserd:tester";

/// A daemon started from a config text; SIGKILLed on drop.
struct Daemon {
    child: Child,
    /// `listening on` addresses, in portal order.
    addrs: Vec<String>,
}

impl Daemon {
    fn start(config: &str, portals: usize) -> Daemon {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iserd-access");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}.toml", std::process::id() ^ rand_u32()));
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_iserd"))
            .args(["--config".as_ref(), path.as_os_str()])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut addrs = Vec::new();
        while addrs.len() < portals {
            let line = lines
                .next()
                .expect("iserd exited before listening")
                .unwrap();
            if let Some(a) = line.strip_prefix("listening on ") {
                addrs.push(a.to_owned());
            }
        }
        let _ = std::fs::remove_file(&path);
        Daemon { child, addrs }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_u32() -> u32 {
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    u32::from_le_bytes(b)
}

fn opts(name: &str) -> Options {
    Options {
        initiator_name: name.into(),
        chap: None,
        mutual: None,
        header_digest: false,
        data_digest: false,
        timeout: Duration::from_secs(10),
        transport: iser_initiator::url::Transport::Tcp,
    }
}

fn discover(portal: &str, name: &str) -> Vec<String> {
    let mut s = Session::open(portal, None, &opts(name)).unwrap();
    let found = s.send_targets().unwrap();
    let _ = s.logout();
    found.into_iter().map(|(n, _)| n).collect()
}

/// The Login status a refused login got.
fn refused(portal: &str, target: &str, name: &str) -> u16 {
    match Session::open(portal, Some(target), &opts(name)) {
        Err(Error::LoginRefused { status, .. }) => status.to_u16(),
        Err(e) => panic!("login to {target} via {portal}: {e}"),
        Ok(_) => panic!("login to {target} via {portal} as {name} was accepted"),
    }
}

fn target(name: &str, acl: &str) -> String {
    format!("[[target]]\nname = \"{name}\"\n{acl}\n[[target.lun]]\nram = \"1MiB\"\n")
}

#[test]
fn address_and_name_acls_refuse_login_and_hide_targets() {
    let ipv6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    if !ipv6 {
        eprintln!("NOTICE: no IPv6 loopback; checking the IPv4 portal only");
    }
    let v6_portal = "[[portal]]\nlisten = \"[::1]:0\"\ntransport = \"tcp\"\n";
    let config = [
        "[[portal]]\nlisten = \"127.0.0.1:0\"\ntransport = \"tcp\"\n".to_owned(),
        if ipv6 { v6_portal } else { "" }.to_owned(),
        target(OPEN, ""),
        target(LAN, "allowed_addresses = [\"10.0.0.0/8\", \"fd00::/8\"]"),
        target(LOOP4, "allowed_addresses = [\"127.0.0.0/8\"]"),
        target(LOOP6, "allowed_addresses = [\"::1/128\"]"),
        target(
            NAMED,
            &format!("allowed_initiators = [\"{ME}\"]\nallowed_addresses = [\"127.0.0.1\"]"),
        ),
    ]
    .concat();
    let d = Daemon::start(&config, if ipv6 { 2 } else { 1 });
    let v4 = d.addrs[0].as_str();
    // Without IPv6 the "v6" cases run against a closed port and are filtered out below.
    let v6 = d.addrs.get(1).map_or("", String::as_str);
    assert!(!ipv6 || v6.starts_with("[::1]:"), "{v6}");
    let here = |portal: &str| !portal.is_empty();

    // Discovery lists exactly what each initiator may use.
    assert_eq!(discover(v4, ME), [OPEN, LOOP4, NAMED]);
    if ipv6 {
        assert_eq!(discover(v6, ME), [OPEN, LOOP6]);
    }
    let other = "iqn.2026-11.rs.iserd:other";
    assert_eq!(discover(v4, other), [OPEN, LOOP4]);

    // RFC 7143 §11.13.5: 0x0202 "authorization failure".
    for (portal, t, who) in [
        (v4, LAN, ME),
        (v6, LAN, ME),
        (v4, LOOP6, ME),
        (v6, LOOP4, ME),
        (v6, NAMED, ME),
        (v4, NAMED, other),
    ]
    .into_iter()
    .filter(|c| here(c.0))
    {
        assert_eq!(refused(portal, t, who), 0x0202, "{t} via {portal} as {who}");
    }
    for (portal, t) in [
        (v4, OPEN),
        (v6, OPEN),
        (v4, LOOP4),
        (v6, LOOP6),
        (v4, NAMED),
    ]
    .into_iter()
    .filter(|c| here(c.0))
    {
        let mut s = Session::open(portal, Some(t), &opts(ME)).unwrap();
        assert_eq!(s.open_lun(0).unwrap(), (2048, 512), "{t} via {portal}");
        s.logout().unwrap();
    }
    // An unknown name stays "not found".
    assert_eq!(refused(v4, "iqn.2026-11.rs.iserd:nope", ME), 0x0203);
}

const LIMITS: &str = "[[portal]]\nlisten = \"127.0.0.1:0\"\ntransport = \"tcp\"\n\
    [limits]\nmax_sessions = 2\nqueue_depth = 4\nlogin_timeout = 1\nmax_login_requests = 4\n";

fn limits_daemon() -> Daemon {
    Daemon::start(&[LIMITS, &target(OPEN, "")].concat(), 1)
}

#[test]
fn max_sessions_refuses_with_out_of_resources_and_frees_on_logout() {
    let d = limits_daemon();
    let a = &d.addrs[0];
    let s1 = Session::open(a, Some(OPEN), &opts(ME)).unwrap();
    let s2 = Session::open(a, None, &opts(ME)).unwrap();
    // RFC 7143 §11.13.5: 0x0302 "out of resources".
    assert_eq!(refused(a, OPEN, "iqn.2026-11.rs.iserd:third"), 0x0302);
    s1.logout().unwrap();
    let s3 = Session::open(a, Some(OPEN), &opts(ME)).unwrap();
    s2.logout().unwrap();
    s3.logout().unwrap();
}

#[test]
fn queue_depth_is_the_cmdsn_window() {
    let d = limits_daemon();
    let mut c = Raw::connect(&d.addrs[0]);
    // T=1, CSG=0 (security) -> NSG=1, then T=1, CSG=1 -> NSG=3 (full feature).
    c.login_request(
        0x81,
        b"InitiatorName=iqn.2026-11.rs.iserd:raw\0SessionType=Discovery\0AuthMethod=None\0",
    );
    let r = c.login_response().unwrap();
    assert_eq!(r.status(), 0);
    c.login_request(0x87, b"");
    let r = c.login_response().unwrap();
    assert_eq!(r.status(), 0);
    // MaxCmdSN - ExpCmdSN + 1 (§4.2.2.1).
    assert_eq!(r.u32_at(32).wrapping_sub(r.u32_at(28)).wrapping_add(1), 4);
}

#[test]
fn a_second_connection_to_a_session_is_refused() {
    let d = limits_daemon();
    let s = Session::open(&d.addrs[0], Some(OPEN), &opts(ME)).unwrap();
    let mut c = Raw::connect(&d.addrs[0]);
    // TSIH 1 with the same ISID: "add a connection", MaxConnections is 1 (§13.2).
    c.tsih = 1;
    c.login_request(
        0x81,
        format!("InitiatorName={ME}\0TargetName={OPEN}\0AuthMethod=None\0").as_bytes(),
    );
    let r = c.login_response().unwrap();
    // §11.13.5: 0x020a "session does not exist" — no session takes a second connection.
    assert_eq!(r.status(), 0x020a, "a second connection was not refused");
    assert!(c.closed_within(Duration::from_secs(3)));
    s.logout().unwrap();
}

#[test]
fn a_stalled_login_is_dropped_after_the_login_timeout() {
    let d = limits_daemon();
    // Nothing at all.
    let mut idle = Raw::connect(&d.addrs[0]);
    // Half a header.
    let mut half = Raw::connect(&d.addrs[0]);
    half.stream.write_all(&[0x43, 0x01, 0, 0, 0, 0]).unwrap();
    // A first step, then silence.
    let mut step = Raw::connect(&d.addrs[0]);
    step.login_request(
        0x01,
        b"InitiatorName=iqn.2026-11.rs.iserd:raw\0SessionType=Discovery\0",
    );
    let start = Instant::now();
    for c in [&mut idle, &mut half, &mut step] {
        assert!(c.closed_within(Duration::from_secs(5)), "still open");
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(700),
        "dropped too early: {took:?}"
    );
    // The daemon still serves.
    Session::open(&d.addrs[0], Some(OPEN), &opts(ME))
        .unwrap()
        .logout()
        .unwrap();
}

#[test]
fn endless_negotiation_is_cut_after_max_login_requests() {
    let d = limits_daemon();
    let mut c = Raw::connect(&d.addrs[0]);
    c.login_request(
        0x00,
        b"InitiatorName=iqn.2026-11.rs.iserd:raw\0SessionType=Discovery\0",
    );
    assert_eq!(c.login_response().unwrap().status(), 0);
    let mut answered = 1;
    for _ in 0..20 {
        // T=0: never asks to move on; each request is one more round.
        if c.login_request_result(0x00, b"").is_err() {
            break;
        }
        match c.login_response() {
            Some(_) => answered += 1,
            None => break,
        }
    }
    assert!(c.closed_within(Duration::from_secs(3)));
    assert!(answered <= 4, "{answered} rounds answered");
}

#[test]
fn overlong_login_text_and_oversized_segments_fail_the_login() {
    let d = limits_daemon();
    // 24 KiB of keys in continued (C bit) pieces: past the 16 KiB login text bound.
    let mut c = Raw::connect(&d.addrs[0]);
    let filler = format!("X-io.iserd.pad={}\0", "a".repeat(8000));
    let mut failed = false;
    for _ in 0..3 {
        if c.login_request_result(0x40, filler.as_bytes()).is_err() {
            failed = true;
            break;
        }
        match c.login_response() {
            Some(r) if r.status() != 0 => {
                failed = true;
                break;
            }
            Some(_) => {}
            None => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "24 KiB of login text was taken");
    assert!(c.closed_within(Duration::from_secs(3)));

    // A 64 KiB data segment where 8 KiB is the login limit: dropped without reading it.
    let mut c = Raw::connect(&d.addrs[0]);
    let bhs = c.bhs(0x00, 0, 65536);
    let _ = c.stream.write_all(&bhs);
    let _ = c.stream.write_all(&[0u8; 4096]);
    assert!(c.closed_within(Duration::from_secs(3)));
}

const CHAP_CONFIG: &str = "[[portal]]\nlisten = \"127.0.0.1:0\"\ntransport = \"tcp\"\n\
    [discovery.chap]\nusername = \"disc\"\nsecret = \"discovery-secret-1\"\n\
    mutual_username = \"portal\"\nmutual_secret = \"portal-secret-22\"\n\
    [[target]]\nname = \"iqn.2026-11.rs.iserd:open\"\n\
    [target.chap]\nusername = \"alice\"\nsecret = \"alice-secret-123\"\n\
    mutual_username = \"target\"\nmutual_secret = \"target-secret-456\"\n\
    [[target.lun]]\nram = \"1MiB\"\n";

fn hex(data: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in data {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn chap_response(alg: ChapAlgorithm, id: u8, secret: &str, challenge: &[u8]) -> Vec<u8> {
    let mut out = [0u8; MAX_DIGEST_LEN];
    let n = alg.response(id, secret.as_bytes(), challenge, &mut out);
    out[..n].to_vec()
}

/// One CHAP login (RFC 7143 §12.1.3) with raw PDUs; the final Login status. With `mutual`,
/// also challenges the target and checks its answer with `mutual`'s secret.
fn chap_login(
    addr: &str,
    target: Option<&str>,
    alg: ChapAlgorithm,
    (name, secret): (&str, &str),
    mutual: Option<(&str, &str)>,
) -> u16 {
    let mut c = Raw::connect(addr);
    let session = match target {
        Some(t) => format!("TargetName={t}\0SessionType=Normal\0"),
        None => "SessionType=Discovery\0".to_owned(),
    };
    c.login_request(
        0x01,
        format!("InitiatorName={ME}\0{session}AuthMethod=CHAP\0").as_bytes(),
    );
    let r = c.login_response().unwrap();
    assert_eq!(r.key("AuthMethod").as_deref(), Some("CHAP"));
    c.login_request(0x01, format!("CHAP_A={}\0", alg.code()).as_bytes());
    let r = c.login_response().unwrap();
    assert_eq!(r.key("CHAP_A"), Some(alg.code().to_string()));
    let id: u8 = r.key("CHAP_I").unwrap().parse().unwrap();
    let mut challenge = [0u8; 1024];
    let n = decode_binary(&r.key("CHAP_C").unwrap(), &mut challenge).unwrap();
    let answer = chap_response(alg, id, secret, &challenge[..n]);
    let mut text = format!("CHAP_N={name}\0CHAP_R={}\0", hex(&answer));
    let my_challenge: Vec<u8> = (0..24u8)
        .map(|i| i.wrapping_mul(37) ^ rand_u32() as u8)
        .collect();
    if mutual.is_some() {
        text.push_str(&format!("CHAP_I=77\0CHAP_C={}\0", hex(&my_challenge)));
    }
    c.login_request(0x81, text.as_bytes());
    let r = c.login_response().unwrap();
    if r.status() != 0 {
        return r.status();
    }
    if let Some((tname, tsecret)) = mutual {
        assert_eq!(r.key("CHAP_N").as_deref(), Some(tname));
        let mut got = [0u8; 64];
        let n = decode_binary(&r.key("CHAP_R").unwrap(), &mut got).unwrap();
        assert_eq!(got[..n], chap_response(alg, 77, tsecret, &my_challenge)[..]);
    }
    0
}

#[test]
fn chap_md5_and_sha256_one_way_and_mutual_on_discovery_and_normal_sessions() {
    let d = Daemon::start(CHAP_CONFIG, 1);
    let a = d.addrs[0].as_str();
    let disc = ("disc", "discovery-secret-1");
    let normal = ("alice", "alice-secret-123");
    for alg in [ChapAlgorithm::Md5, ChapAlgorithm::Sha256] {
        for (target, creds, mutual) in [
            (None, disc, ("portal", "portal-secret-22")),
            (Some(OPEN), normal, ("target", "target-secret-456")),
        ] {
            let what = format!("{alg:?} {target:?}");
            assert_eq!(chap_login(a, target, alg, creds, None), 0, "{what}");
            assert_eq!(
                chap_login(a, target, alg, creds, Some(mutual)),
                0,
                "{what} mutual"
            );
            // 0x0201 "authentication failure" for a wrong secret or name.
            let wrong = (creds.0, "not-the-secret-9");
            assert_eq!(
                chap_login(a, target, alg, wrong, None),
                0x0201,
                "{what} wrong"
            );
            let other = ("mallory", creds.1);
            assert_eq!(
                chap_login(a, target, alg, other, None),
                0x0201,
                "{what} name"
            );
        }
    }
    // Without CHAP at all: refused.
    let mut c = Raw::connect(a);
    c.login_request(
        0x81,
        format!("InitiatorName={ME}\0SessionType=Discovery\0AuthMethod=None\0").as_bytes(),
    );
    assert_eq!(c.login_response().unwrap().status(), 0x0201);
}

/// A bare TCP connection speaking Login PDUs (RFC 7143 §11.12, §11.13).
struct Raw {
    stream: TcpStream,
    tsih: u16,
    cmd_sn: u32,
    itt: u32,
}

/// A received Login Response: its header and text.
struct Response([u8; 48], Vec<u8>);

impl Response {
    fn u32_at(&self, at: usize) -> u32 {
        u32::from_be_bytes(self.0[at..at + 4].try_into().unwrap())
    }

    /// Status-Class << 8 | Status-Detail.
    fn status(&self) -> u16 {
        u16::from_be_bytes([self.0[36], self.0[37]])
    }

    /// The value of `key` in the text.
    fn key(&self, key: &str) -> Option<String> {
        self.1
            .split(|&b| b == 0)
            .filter_map(|kv| std::str::from_utf8(kv).ok()?.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_owned())
    }
}

impl Raw {
    fn connect(addr: &str) -> Raw {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Raw {
            stream,
            tsih: 0,
            cmd_sn: 1,
            itt: 1,
        }
    }

    /// A Login Request header: `flags` is byte 1 (T, C, CSG, NSG), `data_len` the segment.
    fn bhs(&mut self, flags: u8, exp_stat_sn: u32, data_len: usize) -> [u8; 48] {
        let mut h = [0u8; 48];
        h[0] = 0x43; // immediate Login Request
        h[1] = flags;
        let len = u32::try_from(data_len).unwrap().to_be_bytes();
        h[5..8].copy_from_slice(&len[1..]);
        h[8..14].copy_from_slice(&[0x80, 0, 0, 0x12, 0x34, 0x56]);
        h[14..16].copy_from_slice(&self.tsih.to_be_bytes());
        h[16..20].copy_from_slice(&self.itt.to_be_bytes());
        h[24..28].copy_from_slice(&self.cmd_sn.to_be_bytes());
        h[28..32].copy_from_slice(&exp_stat_sn.to_be_bytes());
        self.itt += 1;
        h
    }

    fn login_request_result(&mut self, flags: u8, text: &[u8]) -> std::io::Result<()> {
        let mut pdu = self.bhs(flags, 0, text.len()).to_vec();
        pdu.extend_from_slice(text);
        pdu.resize(pdu.len().next_multiple_of(4), 0);
        self.stream.write_all(&pdu)
    }

    fn login_request(&mut self, flags: u8, text: &[u8]) {
        self.login_request_result(flags, text).unwrap();
    }

    /// The next Login Response, its data segment skipped; `None` when the connection ended.
    fn login_response(&mut self) -> Option<Response> {
        let mut h = [0u8; 48];
        self.stream.read_exact(&mut h).ok()?;
        assert_eq!(h[0] & 0x3f, 0x23, "not a Login Response: {:#04x}", h[0]);
        let len = u32::from_be_bytes([0, h[5], h[6], h[7]]) as usize;
        let mut data = vec![0u8; len.next_multiple_of(4)];
        self.stream.read_exact(&mut data).ok()?;
        data.truncate(len);
        Some(Response(h, data))
    }

    /// Whether the target closes the connection (EOF or reset) within `limit`.
    fn closed_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        self.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return true,
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        false
    }
}
