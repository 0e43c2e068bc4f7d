//! Login on the initiator side (RFC 7143 §6.3, §11.12–13): the security stage with AuthMethod
//! None or CHAP, one-way or mutual (§12.1.3), operational negotiation through [`Negotiator`],
//! continued responses (C bit), transit to the full feature phase, every failure reported as a
//! [`LoginError`]. Also SendTargets in a discovery session (§4.3, Appendix C).

use super::event::{AuthFailure, InitiatorEvent, InitiatorSink, LoginError};
use super::{Discovery, InitiatorConfig, InitiatorConn, Stage};
use crate::negotiate::value::parse_number;
use crate::negotiate::{
    AnyPolicy, AuthMethod, Digest, IserPolicy, LocalConfig, LoginStage, Negotiator, Role,
    SessionType, TcpPolicy,
};
use crate::session::backend::ChapCredentials;
use crate::session::chap::{
    self, ChapAlgorithm, ChapKeys, CHALLENGE_LEN, MAX_CHALLENGE_LEN, MAX_DIGEST_LEN,
};
use crate::session::target::Transmit;
use crate::wire::frame::{emit_pdu, Digests, EmitError};
use crate::wire::text::{Assembled, TextAssembler, TextReader, TextWriter};
use crate::wire::{
    Isid, LoginRequestRepr, LoginResponseRepr, Lun, PduRepr, Stage as WireStage, TextRequestRepr,
    TextResponseRepr, RESERVED_TAG,
};

/// Largest login request text we send (one PDU: the login MaxRecvDataSegmentLength is 8192).
const MAX_REQUEST_TEXT: usize = 8192;
/// Largest login or SendTargets response text we reassemble.
pub(crate) const MAX_RESPONSE_TEXT: usize = 32_768;
/// CHAP algorithms we offer, most preferred first (RFC 7143 §12.1.3: MD5 is mandatory).
const CHAP_A_OFFER: &str = "7,5";

/// Where CHAP stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chap {
    /// AuthMethod=CHAP not (yet) agreed.
    Unused,
    /// We sent CHAP_A and wait for CHAP_A/CHAP_I/CHAP_C.
    SentAlgorithms,
    /// We sent CHAP_N/CHAP_R (and our own challenge, for mutual CHAP).
    SentResponse { algorithm: ChapAlgorithm },
    /// Done (the target is authenticated too when mutual CHAP was asked for).
    Done,
}

/// The header fields of a Login Request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Request {
    transit: bool,
    csg: WireStage,
    nsg: WireStage,
}

/// The login state of an initiator connection.
#[derive(Debug)]
pub(crate) struct LoginState<'a> {
    negotiator: Option<Negotiator<'a, AnyPolicy>>,
    stage: LoginStage,
    /// Request ready to send; its text is `text[..text_len]`.
    pending: Option<Request>,
    /// Request sent, response due.
    awaiting: Option<Request>,
    text: [u8; MAX_REQUEST_TEXT],
    text_len: usize,
    /// Login response text, later SendTargets response text.
    pub(crate) response: TextAssembler<MAX_RESPONSE_TEXT>,
    chap: Chap,
    entropy: [u8; 32],
    /// ITT of the login requests.
    pub(crate) itt: u32,
    first_response: bool,
    /// A failure found outside a call that has a sink; reported at the next one.
    pub(crate) failed: Option<LoginError>,
}

impl LoginState<'_> {
    pub(crate) fn new(entropy: [u8; 32]) -> Self {
        LoginState {
            negotiator: None,
            stage: LoginStage::Security,
            pending: None,
            awaiting: None,
            text: [0; MAX_REQUEST_TEXT],
            text_len: 0,
            response: TextAssembler::new(),
            chap: Chap::Unused,
            entropy,
            itt: RESERVED_TAG,
            first_response: true,
            failed: None,
        }
    }

    /// Our CHAP identifier and challenge for mutual CHAP.
    fn our_challenge(&self) -> (u8, [u8; CHALLENGE_LEN]) {
        let mut c = [0u8; CHALLENGE_LEN];
        for (i, b) in c.iter_mut().enumerate() {
            // Rotated so that the bytes that seed the ISID do not lead the challenge.
            *b = self
                .entropy
                .get(i.wrapping_add(16).checked_rem(32).unwrap_or(0))
                .copied()
                .unwrap_or(0);
        }
        (self.entropy.get(13).copied().unwrap_or(0), c)
    }
}

const fn digest_list(on: bool) -> &'static [Digest] {
    if on {
        &[Digest::Crc32c, Digest::None]
    } else {
        &[Digest::None]
    }
}

fn auth_fail(f: AuthFailure) -> LoginError {
    LoginError::Authentication(f)
}

fn text_full<T>(_: T) -> LoginError {
    LoginError::Negotiation(crate::negotiate::NegotiationError::Local(
        crate::negotiate::LocalFault::BufferTooSmall {
            needed: MAX_REQUEST_TEXT,
        },
    ))
}

impl<'a, const TASKS: usize> InitiatorConn<'a, TASKS> {
    /// Builds the negotiator and the first Login Request: names, SessionType and AuthMethod in
    /// the security stage, asking to move on to operational negotiation.
    pub(super) fn start_login(&mut self) -> Result<(), LoginError> {
        let c = self.config;
        let (chap, mutual_chap) = credentials(&c);
        if mutual_chap.is_some() && chap.is_none() {
            return Err(auth_fail(AuthFailure::NoCredentials));
        }
        let mut lc = LocalConfig::initiator();
        lc.initiator_name = Some(c.initiator_name);
        lc.initiator_alias = c.initiator_alias;
        lc.target_name = c.target_name;
        lc.session_type = if c.target_name.is_some() {
            SessionType::Normal
        } else {
            SessionType::Discovery
        };
        lc.auth_methods = match (chap, mutual_chap) {
            // Mutual CHAP asked for: accepting None would let the target skip proving itself.
            (_, Some(_)) => &[AuthMethod::Chap],
            (Some(_), None) => &[AuthMethod::Chap, AuthMethod::None],
            (None, None) => &[AuthMethod::None],
        };
        lc.header_digests = digest_list(c.header_digest);
        lc.data_digests = digest_list(c.data_digest);
        lc.max_recv_data_segment_length = c.max_recv_data_segment_length;
        lc.max_burst_length = c.max_burst_length;
        lc.first_burst_length = c.first_burst_length.min(c.max_burst_length);
        lc.initial_r2t = c.initial_r2t;
        lc.immediate_data = c.immediate_data;
        lc.max_outstanding_r2t = c.max_outstanding_r2t;
        let policy = if self.rdma {
            // RFC 7145 §6: RDMAExtensions=Yes, no digests, the iSER receive lengths.
            lc.rdma_extensions = true;
            lc.header_digests = &[Digest::None];
            lc.data_digests = &[Digest::None];
            lc.initiator_recv_data_segment_length = c.max_recv_data_segment_length;
            AnyPolicy::Iser(IserPolicy::new(
                c.max_recv_data_segment_length,
                c.max_recv_data_segment_length,
                0,
            ))
        } else {
            AnyPolicy::Tcp(TcpPolicy)
        };
        let mut negotiator =
            Negotiator::new(Role::Initiator, lc, policy).map_err(LoginError::Negotiation)?;
        self.login.itt = self
            .itts
            .allocate_with(|_| false, 0)
            .map_err(|_| LoginError::ProtocolError)?
            .0;
        let mut out = TextWriter::new(&mut self.login.text);
        negotiator
            .propose(LoginStage::Security, &mut out)
            .map_err(LoginError::Negotiation)?;
        self.login.text_len = out.len();
        self.login.negotiator = Some(negotiator);
        self.login.stage = LoginStage::Security;
        self.login.pending = Some(Request {
            transit: true,
            csg: WireStage::SECURITY,
            nsg: WireStage::OPERATIONAL,
        });
        Ok(())
    }

    /// Writes the pending Login Request.
    pub(super) fn emit_login_request(&mut self, buf: &mut [u8]) -> Transmit {
        let Some(req) = self.login.pending else {
            return Transmit::Idle;
        };
        let repr = LoginRequestRepr {
            transit: req.transit,
            continue_: false,
            csg: req.csg,
            nsg: if req.transit { req.nsg } else { req.csg },
            version_max: 0,
            version_min: 0,
            isid: Isid(self.isid),
            tsih: 0,
            itt: self.login.itt,
            cid: 0,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
        };
        let text = self
            .login
            .text
            .get(..self.login.text_len)
            .unwrap_or_default();
        match emit_pdu(&PduRepr::LoginRequest(repr), &[], text, Digests::NONE, buf) {
            Ok(n) => {
                self.login.pending = None;
                self.login.awaiting = Some(req);
                Transmit::Written(n)
            }
            Err(EmitError::BufferTooSmall { needed }) => Transmit::NeedSpace(needed),
            Err(_) => {
                self.login.pending = None;
                self.login.failed = Some(LoginError::ProtocolError);
                Transmit::Idle
            }
        }
    }

    pub(super) fn fail_login<S: InitiatorSink>(&mut self, error: LoginError, sink: &mut S) {
        if self.stage == Stage::Closed {
            return;
        }
        self.stage = Stage::Closed;
        self.deadline = None;
        self.login.negotiator = None;
        self.login.pending = None;
        sink.event(InitiatorEvent::LoginFailed(error));
    }

    /// One Login Response: status, reassembly, negotiation, CHAP, and the next request or the
    /// transit to the full feature phase.
    pub(super) fn handle_login_response<S: InitiatorSink>(
        &mut self,
        resp: &LoginResponseRepr,
        data: &[u8],
        sink: &mut S,
    ) {
        match self.login_step(resp, data) {
            Ok(true) => {
                sink.event(InitiatorEvent::LoggedIn { tsih: self.tsih });
                if self.is_discovery() {
                    match self.alloc_itt() {
                        Ok(itt) => {
                            self.discovery = Discovery::Queued {
                                itt: itt.0,
                                ttt: RESERVED_TAG,
                            }
                        }
                        Err(_) => self.close(super::CloseCause::ProtocolError, sink),
                    }
                }
            }
            Ok(false) => {}
            Err(e) => self.fail_login(e, sink),
        }
    }

    /// Returns true when the login completed.
    fn login_step(&mut self, resp: &LoginResponseRepr, data: &[u8]) -> Result<bool, LoginError> {
        let Some(req) = self.login.awaiting.take() else {
            // A response to nothing.
            return Err(LoginError::ProtocolError);
        };
        // A refusal is reported as such even when the target does not echo the fields (tgt
        // leaves the ISID zero in some error responses).
        if !resp.status.is_success() {
            return Err(LoginError::Refused(resp.status));
        }
        if resp.itt != self.login.itt || resp.isid.0 != self.isid {
            return Err(LoginError::ProtocolError);
        }
        if self.login.first_response {
            self.login.first_response = false;
            self.exp_stat_sn = resp.stat_sn.wrapping_add(1);
        } else {
            self.saw_stat_sn(resp.stat_sn);
        }
        if crate::task::window_len(
            crate::task::SerialNumber(resp.exp_cmd_sn),
            crate::task::SerialNumber(resp.max_cmd_sn),
        )
        .is_some()
        {
            self.exp_cmd_sn = resp.exp_cmd_sn;
            self.max_cmd_sn = resp.max_cmd_sn;
        }
        if resp.csg != req.csg {
            return Err(LoginError::ProtocolError);
        }
        match self.login.response.push(data, resp.continue_) {
            Ok(Assembled::NeedMore) => {
                // §11.13.? a partial response never transits; ask for the rest with an empty
                // request.
                if resp.transit {
                    return Err(LoginError::ProtocolError);
                }
                self.login.text_len = 0;
                self.login.pending = Some(Request {
                    transit: false,
                    ..req
                });
                return Ok(false);
            }
            Ok(Assembled::Complete) => {}
            Err(_) => return Err(LoginError::ProtocolError),
        }
        if resp.transit
            && (!req.transit
                || resp.nsg.0 <= resp.csg.0
                || resp.nsg.0 > req.nsg.0
                || resp.nsg.0 == 2)
        {
            return Err(LoginError::ProtocolError);
        }

        let stage = self.login.stage;
        let (chap_creds, mutual) = credentials(&self.config);
        let (our_id, our_challenge) = self.login.our_challenge();
        let LoginState {
            negotiator,
            response,
            text,
            chap: chap_state,
            ..
        } = &mut self.login;
        let Some(negotiator) = negotiator.as_mut() else {
            return Err(LoginError::ProtocolError);
        };
        let received = response.text().unwrap_or_default();
        let mut out = TextWriter::new(text);
        negotiator
            .receive(stage, received, &mut out, |_, _, _| Ok(()))
            .map_err(LoginError::Negotiation)?;

        // CHAP (RFC 7143 §12.1.3), in the security stage only.
        let mut chap_transit = true;
        if stage == LoginStage::Security {
            #[cfg(feature = "chap")]
            let keys = ChapKeys::read(received);
            // Without `chap` no CHAP is offered, so no exchange gets past `Unused`.
            #[cfg(not(feature = "chap"))]
            let _ = (our_id, &our_challenge);
            match *chap_state {
                Chap::Unused if negotiator.negotiated().auth_method == AuthMethod::Chap => {
                    if resp.transit {
                        // The target agreed to CHAP and moved on without it.
                        return Err(auth_fail(AuthFailure::TargetNotAuthenticated));
                    }
                    if chap_creds.is_none() {
                        return Err(auth_fail(AuthFailure::NoCredentials));
                    }
                    out.push("CHAP_A", CHAP_A_OFFER).map_err(text_full)?;
                    *chap_state = Chap::SentAlgorithms;
                    chap_transit = false;
                }
                #[cfg(feature = "chap")]
                Chap::SentAlgorithms => {
                    let creds = chap_creds.ok_or(auth_fail(AuthFailure::NoCredentials))?;
                    let algorithm = keys
                        .a
                        .and_then(parse_number)
                        .and_then(|n| u32::try_from(n).ok())
                        .and_then(ChapAlgorithm::from_code)
                        .ok_or(auth_fail(AuthFailure::UnsupportedAlgorithm))?;
                    let id = keys
                        .i
                        .and_then(parse_number)
                        .and_then(|n| u8::try_from(n).ok())
                        .ok_or(auth_fail(AuthFailure::BadChallenge))?;
                    let mut challenge = [0u8; MAX_CHALLENGE_LEN];
                    let clen = keys
                        .c
                        .ok_or(auth_fail(AuthFailure::BadChallenge))
                        .and_then(|c| {
                            chap::decode_binary(c, &mut challenge)
                                .map_err(|_| auth_fail(AuthFailure::BadChallenge))
                        })?;
                    let challenge = challenge.get(..clen).unwrap_or_default();
                    if mutual.is_some() && challenge == our_challenge.as_slice() {
                        return Err(auth_fail(AuthFailure::ReflectedChallenge));
                    }
                    let mut answer = [0u8; MAX_DIGEST_LEN];
                    let n = algorithm.response(id, creds.secret, challenge, &mut answer);
                    let mut hex = [0u8; 2 + 2 * MAX_DIGEST_LEN];
                    let r = chap::encode_hex(answer.get(..n).unwrap_or_default(), &mut hex)
                        .ok_or(auth_fail(AuthFailure::BadChallenge))?;
                    out.push("CHAP_N", creds.name).map_err(text_full)?;
                    out.push("CHAP_R", r).map_err(text_full)?;
                    if mutual.is_some() {
                        let mut digits = [0u8; 10];
                        out.push(
                            "CHAP_I",
                            crate::wire::text::format_u32(u32::from(our_id), &mut digits),
                        )
                        .map_err(text_full)?;
                        let mut hex = [0u8; 2 + 2 * CHALLENGE_LEN];
                        let c = chap::encode_hex(&our_challenge, &mut hex)
                            .ok_or(auth_fail(AuthFailure::BadChallenge))?;
                        out.push("CHAP_C", c).map_err(text_full)?;
                    }
                    *chap_state = Chap::SentResponse { algorithm };
                }
                #[cfg(feature = "chap")]
                Chap::SentResponse { algorithm } => {
                    if let Some(m) = mutual {
                        let name = keys
                            .n
                            .ok_or(auth_fail(AuthFailure::TargetNotAuthenticated))?;
                        let mut got = [0u8; MAX_DIGEST_LEN];
                        let got_len = keys
                            .r
                            .ok_or(auth_fail(AuthFailure::TargetNotAuthenticated))
                            .and_then(|r| {
                                chap::decode_binary(r, &mut got)
                                    .map_err(|_| auth_fail(AuthFailure::TargetNotAuthenticated))
                            })?;
                        let mut want = [0u8; MAX_DIGEST_LEN];
                        let want_len =
                            algorithm.response(our_id, m.secret, &our_challenge, &mut want);
                        let ok = name == m.name
                            && chap::constant_time_eq(
                                got.get(..got_len).unwrap_or_default(),
                                want.get(..want_len).unwrap_or_default(),
                            );
                        if !ok {
                            return Err(auth_fail(AuthFailure::TargetNotAuthenticated));
                        }
                    }
                    *chap_state = Chap::Done;
                }
                _ => {}
            }
            if resp.transit && mutual.is_some() && *chap_state != Chap::Done {
                return Err(auth_fail(AuthFailure::TargetNotAuthenticated));
            }
        }

        // The next request, unless the target moved to the full feature phase.
        let to_ffp = resp.transit && resp.nsg == WireStage::FULL_FEATURE;
        let next_stage = if resp.transit {
            LoginStage::Operational
        } else {
            stage
        };
        let mut next = None;
        if !to_ffp {
            if next_stage == LoginStage::Operational {
                negotiator
                    .propose(LoginStage::Operational, &mut out)
                    .map_err(LoginError::Negotiation)?;
                next = Some(Request {
                    transit: negotiator.transit_allowed(),
                    csg: WireStage::OPERATIONAL,
                    nsg: WireStage::FULL_FEATURE,
                });
            } else {
                negotiator
                    .propose(LoginStage::Security, &mut out)
                    .map_err(LoginError::Negotiation)?;
                next = Some(Request {
                    transit: chap_transit && negotiator.transit_allowed(),
                    csg: WireStage::SECURITY,
                    nsg: WireStage::OPERATIONAL,
                });
            }
        }
        let len = out.len();
        self.login.text_len = len;
        self.login.stage = next_stage;
        self.login.response.reset();
        if to_ffp {
            return self.enter_full_feature(resp.tsih).map(|()| true);
        }
        self.login.pending = next;
        Ok(false)
    }

    /// The final Login Response arrived: settle the parameters and enter the full feature phase.
    fn enter_full_feature(&mut self, tsih: u16) -> Result<(), LoginError> {
        let negotiator = self
            .login
            .negotiator
            .take()
            .ok_or(LoginError::ProtocolError)?;
        let n = negotiator.finish().map_err(LoginError::Negotiation)?;
        self.digests = Digests {
            header: n.header_digest == Digest::Crc32c,
            data: n.data_digest == Digest::Crc32c,
        };
        self.params = n;
        self.tsih = tsih;
        // tgt's iSER login (1.0.85 `iser_text.c`) counts the immediate Login Request in the
        // final response's ExpCmdSN and answers MaxCmdSN = ExpCmdSN - 1, while its session
        // still expects the login's CmdSN next: a window that admits nothing is read as a
        // window of one at our CmdSN, as the Linux initiator starts every session.
        let exp = crate::task::SerialNumber(self.exp_cmd_sn);
        let max = crate::task::SerialNumber(self.max_cmd_sn);
        if crate::task::window_len(exp, max) == Some(0) {
            self.exp_cmd_sn = self.cmd_sn;
            self.max_cmd_sn = self.cmd_sn;
        }
        self.stage = Stage::FullFeature;
        self.deadline = None;
        Ok(())
    }

    // ---- SendTargets (discovery sessions) ----

    /// Writes the pending Text Request (SendTargets=All, or an empty continuation).
    pub(super) fn emit_text_request(&mut self, buf: &mut [u8]) -> Transmit {
        let Discovery::Queued { itt, ttt } = self.discovery else {
            return Transmit::Idle;
        };
        if !self.window_open() {
            return Transmit::Idle;
        }
        let repr = TextRequestRepr {
            immediate: false,
            final_: true,
            continue_: false,
            lun: Lun(0),
            itt,
            ttt,
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
        };
        let text: &[u8] = if ttt == RESERVED_TAG {
            b"SendTargets=All\0"
        } else {
            b""
        };
        match emit_pdu(&PduRepr::TextRequest(repr), &[], text, self.digests(), buf) {
            Ok(n) => {
                self.cmd_sn = self.cmd_sn.wrapping_add(1);
                self.discovery = Discovery::Sent { itt };
                Transmit::Written(n)
            }
            Err(EmitError::BufferTooSmall { needed }) => Transmit::NeedSpace(needed),
            Err(_) => Transmit::Idle,
        }
    }

    /// A Text Response: collect SendTargets output, ask for the rest, report the entries.
    pub(super) fn handle_text_response<S: InitiatorSink>(
        &mut self,
        resp: &TextResponseRepr,
        data: &[u8],
        sink: &mut S,
    ) {
        let Discovery::Sent { itt } = self.discovery else {
            return;
        };
        if resp.itt != itt {
            return;
        }
        match self.login.response.push(data, resp.continue_) {
            Ok(Assembled::NeedMore) => {
                if resp.ttt == RESERVED_TAG {
                    // §11.11.? a continued response carries a TTT to continue with.
                    self.close(super::CloseCause::ProtocolError, sink);
                    return;
                }
                self.discovery = Discovery::Queued { itt, ttt: resp.ttt };
                return;
            }
            Ok(Assembled::Complete) => {}
            Err(_) => {
                warn!("SendTargets response too long");
                self.login.response.reset();
                self.close(super::CloseCause::ProtocolError, sink);
                return;
            }
        }
        let text = self.login.response.text().unwrap_or_default();
        let mut current: Option<&str> = None;
        let mut listed = false;
        for (k, v) in TextReader::new(text).map_while(Result::ok) {
            match k {
                "TargetName" => {
                    if let (Some(name), false) = (current, listed) {
                        sink.event(InitiatorEvent::Discovered {
                            target_name: name,
                            target_address: None,
                        });
                    }
                    current = Some(v);
                    listed = false;
                }
                "TargetAddress" => {
                    if let Some(name) = current {
                        sink.event(InitiatorEvent::Discovered {
                            target_name: name,
                            target_address: Some(v),
                        });
                        listed = true;
                    }
                }
                _ => {}
            }
        }
        if let (Some(name), false) = (current, listed) {
            sink.event(InitiatorEvent::Discovered {
                target_name: name,
                target_address: None,
            });
        }
        self.login.response.reset();
        if !resp.final_ && resp.ttt != RESERVED_TAG {
            // More responses follow (F=0): entries of each complete text were reported.
            self.discovery = Discovery::Queued { itt, ttt: resp.ttt };
            return;
        }
        self.discovery = Discovery::Done;
        sink.event(InitiatorEvent::DiscoveryDone);
    }
}

/// Our CHAP credentials and the mutual CHAP ones; none without feature `chap`.
fn credentials<'a>(
    c: &InitiatorConfig<'a>,
) -> (Option<ChapCredentials<'a>>, Option<ChapCredentials<'a>>) {
    #[cfg(feature = "chap")]
    return (c.chap, c.mutual_chap);
    #[cfg(not(feature = "chap"))]
    {
        let _ = c;
        (None, None)
    }
}
