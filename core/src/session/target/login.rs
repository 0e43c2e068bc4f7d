//! Login on the target side (RFC 7143 §6.3, §11.12–13): stages and transit, text reassembly and
//! continued responses, names and access checks, AuthMethod None or CHAP (§12.1.3), key
//! negotiation through [`Negotiator`], TSIH allocation, every failure mapped to a Login Status.
//! Also the full-feature Text Request (SendTargets, §4.3 and Appendix C) which shares the
//! response buffer.

use super::tx::TxItem;
use super::{
    data_offset, pdu_len_for, seal_pdu, CloseReason, DataMode, Emitted, SessionInfo, Stage,
    TargetConn,
};
use crate::negotiate::{
    AnyPolicy, AuthMethod, Digest, LocalConfig, LoginStage, NegotiationError, Negotiator, Role,
    SessionType,
};
use crate::session::backend::{
    AuthPolicy, ChapCredentials, TargetBackend, TargetId, CHAP_ALGORITHMS,
};
use crate::session::chap::{
    self, ChapAlgorithm, ChapKeys, CHALLENGE_LEN, MAX_CHALLENGE_LEN, MAX_DIGEST_LEN,
};
use crate::time::Instant;
use crate::wire::text::{Assembled, TextAssembler, TextReader, TextWriter};
use crate::wire::{
    LoginRequestRepr, LoginResponseRepr, LoginStatus, PduRepr, Stage as WireStage, TextRequestRepr,
    TextResponseRepr, BHS_LEN,
};

/// Largest login or text request text we reassemble (RFC 7143 §6.1 lets a step span PDUs).
pub const MAX_REQUEST_TEXT: usize = 16_384;
/// Largest login or text response text we build.
pub const MAX_RESPONSE_TEXT: usize = 32_768;
/// RFC 7143 §13.12: MaxRecvDataSegmentLength before the peer declared one (also during login).
const LOGIN_SEGMENT: u32 = 8192;
/// The reserved tag (RFC 7143 §11.1).
const RESERVED_TAG: u32 = 0xffff_ffff;

/// Where CHAP stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chap {
    /// Not started (or not required).
    Idle,
    /// We sent CHAP_A/CHAP_I/CHAP_C and wait for CHAP_N/CHAP_R.
    Challenged { algorithm: ChapAlgorithm, id: u8 },
    /// The initiator proved itself.
    Done,
}

/// The login state of a target connection.
#[derive(Debug)]
pub(crate) struct LoginState {
    negotiator: Option<Negotiator<'static, AnyPolicy>>,
    request: TextAssembler<MAX_REQUEST_TEXT>,
    /// Pending response text and how much of it was sent.
    response: [u8; MAX_RESPONSE_TEXT],
    response_len: usize,
    response_sent: usize,
    /// Header of the pending Login Response.
    pending: Option<LoginResponseRepr>,
    entropy: [u8; 32],
    challenge: [u8; CHALLENGE_LEN],
    chap: Chap,
    first: bool,
    isid: [u8; 6],
    cid: u16,
    target: Option<TargetId>,
    session_type: SessionType,
    initiator_name: crate::negotiate::value::IscsiName,
    target_name: crate::negotiate::value::IscsiName,
    /// Login complete once the pending response is sent.
    completes: bool,
    /// The pending response is a failure; close once it is sent.
    fails: Option<LoginStatus>,
    /// Text Request state (full feature phase): ITT and TTT of a continued response.
    text_itt: u32,
    text_ttt: u32,
}

impl LoginState {
    pub(crate) fn new(entropy: [u8; 32]) -> Self {
        let mut challenge = [0u8; CHALLENGE_LEN];
        for (c, e) in challenge.iter_mut().zip(entropy.iter()) {
            *c = *e;
        }
        LoginState {
            negotiator: None,
            request: TextAssembler::new(),
            response: [0; MAX_RESPONSE_TEXT],
            response_len: 0,
            response_sent: 0,
            pending: None,
            entropy,
            challenge,
            chap: Chap::Idle,
            first: true,
            isid: [0; 6],
            cid: 0,
            target: None,
            session_type: SessionType::Normal,
            initiator_name: Default::default(),
            target_name: Default::default(),
            completes: false,
            fails: None,
            text_itt: RESERVED_TAG,
            text_ttt: RESERVED_TAG,
        }
    }
}

fn stage_of(s: WireStage) -> Option<LoginStage> {
    if s == WireStage::SECURITY {
        Some(LoginStage::Security)
    } else if s == WireStage::OPERATIONAL {
        Some(LoginStage::Operational)
    } else {
        None
    }
}

fn status_of(e: NegotiationError) -> LoginStatus {
    let (class, detail) = e.login_status();
    LoginStatus::from_u16(u16::from_be_bytes([class, detail]))
}

impl<const TASKS: usize> TargetConn<TASKS> {
    fn local_config(&self, policy: &AuthPolicy<'_>) -> LocalConfig<'static> {
        const DIGESTS: &[Digest] = &[Digest::None, Digest::Crc32c];
        const NO_DIGESTS: &[Digest] = &[Digest::None];
        let mut c = LocalConfig::target();
        c.auth_methods = match policy {
            AuthPolicy::None => &[AuthMethod::None],
            #[cfg(feature = "chap")]
            AuthPolicy::Chap { .. } => &[AuthMethod::Chap],
            #[cfg(not(feature = "chap"))]
            AuthPolicy::NoChap(never, _) => match *never {},
        };
        let digests = if self.config.allow_digests {
            DIGESTS
        } else {
            NO_DIGESTS
        };
        c.header_digests = digests;
        c.data_digests = digests;
        c.max_recv_data_segment_length = self.config.max_recv_data_segment_length;
        c.max_burst_length = self.config.max_burst_length;
        c.first_burst_length = self
            .config
            .first_burst_length
            .min(self.config.max_burst_length);
        c.initial_r2t = self.config.initial_r2t;
        c.immediate_data = self.config.immediate_data;
        c.max_outstanding_r2t = self.config.max_outstanding_r2t;
        c.target_portal_group_tag = None;
        if self.mode == DataMode::Rdma {
            // RFC 7145 §6: RDMAExtensions=Yes, and the iSER receive segment lengths.
            c.rdma_extensions = true;
            c.header_digests = NO_DIGESTS;
            c.data_digests = NO_DIGESTS;
            c.target_recv_data_segment_length = self.config.max_recv_data_segment_length;
        }
        c
    }

    fn policy(&self) -> AnyPolicy {
        match self.mode {
            #[cfg(feature = "tcp")]
            DataMode::Pdus => AnyPolicy::Tcp(crate::negotiate::TcpPolicy),
            // A discovery session over iSER moves only text: the iSER keys are irrelevant
            // there (as LIO has it), and open-iscsi does not answer them.
            DataMode::Rdma if self.login.session_type == SessionType::Discovery => {
                AnyPolicy::Tcp(crate::negotiate::TcpPolicy)
            }
            DataMode::Rdma => AnyPolicy::Iser(crate::negotiate::IserPolicy::new(
                self.config.max_recv_data_segment_length,
                self.config.max_recv_data_segment_length,
                0,
            )),
        }
    }

    // Out of line: its large locals would otherwise enlarge the stack frame of the
    // per-PDU path it is called from.
    #[inline(never)]
    pub(super) fn fail_login_status<B: TargetBackend>(
        &mut self,
        status: LoginStatus,
        backend: &mut B,
    ) {
        let _ = backend;
        self.login.response_len = 0;
        self.login.response_sent = 0;
        self.login.fails = Some(status);
        let repr = LoginResponseRepr {
            transit: false,
            continue_: false,
            csg: WireStage::SECURITY,
            nsg: WireStage::SECURITY,
            version_max: 0,
            version_active: 0,
            isid: crate::wire::Isid(self.login.isid),
            tsih: 0,
            itt: self.login.pending.map(|p| p.itt).unwrap_or(0),
            stat_sn: 0,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.exp_cmd_sn,
            status,
        };
        self.login.pending = Some(repr);
        self.enqueue(TxItem::LoginResponse);
    }

    // Out of line: its large locals would otherwise enlarge the stack frame of the
    // per-PDU path it is called from.
    #[inline(never)]
    pub(super) fn handle_login<B: TargetBackend>(
        &mut self,
        req: &LoginRequestRepr,
        data: &[u8],
        backend: &mut B,
        now: Instant,
    ) {
        let _ = now;
        if self.login.pending.is_some() && self.login.fails.is_some() {
            return;
        }
        if self.login.first {
            self.login.first = false;
            self.login.isid = req.isid.0;
            self.login.cid = req.cid;
            self.exp_cmd_sn = req.cmd_sn;
            self.login.pending = Some(self.blank_response(req));
            // §11.12.4: we speak version 0 only.
            if req.version_min > 0 {
                return self.fail_login_status(LoginStatus::UNSUPPORTED_VERSION, backend);
            }
            // Adding a connection to an existing session needs MaxConnections > 1: not offered.
            if req.tsih != 0 {
                return self.fail_login_status(LoginStatus::SESSION_DOES_NOT_EXIST, backend);
            }
        } else if req.isid.0 != self.login.isid || req.cid != self.login.cid {
            return self.fail_login_status(LoginStatus::INITIATOR_ERROR, backend);
        }
        let mut response = self.blank_response(req);

        // A response still being sent in pieces: the initiator acknowledges each with an empty
        // request (§11.13.? C bit); send the next piece.
        if self.login.response_sent < self.login.response_len {
            self.login.pending = Some(response);
            self.enqueue(TxItem::LoginResponse);
            return;
        }

        match self.login.request.push(data, req.continue_) {
            Ok(Assembled::NeedMore) => {
                // Acknowledge the piece with an empty response (§6.1.? C bit).
                self.login.response_len = 0;
                self.login.response_sent = 0;
                self.login.pending = Some(response);
                self.enqueue(TxItem::LoginResponse);
                return;
            }
            Ok(Assembled::Complete) => {}
            Err(_) => return self.fail_login_status(LoginStatus::OUT_OF_RESOURCES, backend),
        }

        let Some(stage) = stage_of(req.csg) else {
            return self.fail_login_status(LoginStatus::INITIATOR_ERROR, backend);
        };
        if req.transit && (req.nsg.0 <= req.csg.0 || req.nsg.0 == 2) {
            return self.fail_login_status(LoginStatus::INITIATOR_ERROR, backend);
        }

        // First complete text: learn who is asking for what, before answering anything.
        if self.login.negotiator.is_none() {
            if let Err(status) = self.identify(backend) {
                return self.fail_login_status(status, backend);
            }
        }
        let policy_chap = self.auth_required(backend);
        if stage == LoginStage::Operational && policy_chap && self.login.chap != Chap::Done {
            // Skipping security negotiation when the target requires authentication.
            return self.fail_login_status(LoginStatus::AUTHENTICATION_FAILURE, backend);
        }

        let Some(mut negotiator) = self.login.negotiator.take() else {
            return self.fail_login_status(LoginStatus::TARGET_ERROR, backend);
        };
        let mut out_buf = [0u8; MAX_RESPONSE_TEXT];
        let mut chap_result: Result<(), LoginStatus> = Ok(());
        let result = {
            let mut out = TextWriter::new(&mut out_buf);
            let text = self.login.request.text().unwrap_or_default();
            let mut text_copy = [0u8; MAX_REQUEST_TEXT];
            let tl = text.len().min(MAX_REQUEST_TEXT);
            if let (Some(d), Some(s)) = (text_copy.get_mut(..tl), text.get(..tl)) {
                d.copy_from_slice(s);
            }
            let text = text_copy.get(..tl).unwrap_or_default();
            let auth = self.auth_policy_copy(backend);
            let chap_state = &mut self.login.chap;
            let challenge = &self.login.challenge;
            let entropy = &self.login.entropy;
            // The negotiator hands CHAP_* keys to its caller; read them straight from the text.
            #[cfg(feature = "chap")]
            let chap_keys = ChapKeys::read(text);
            let r = negotiator.receive(stage, text, &mut out, |_, _, _| Ok(()));
            #[cfg(feature = "chap")]
            let any_chap = chap_keys.any();
            #[cfg(not(feature = "chap"))]
            let any_chap = ChapKeys::present(text);
            if r.is_ok() && stage == LoginStage::Security && any_chap {
                #[cfg(feature = "chap")]
                {
                    chap_result =
                        run_chap(chap_state, &chap_keys, &auth, challenge, entropy, &mut out);
                }
                // CHAP keys without AuthMethod=CHAP.
                #[cfg(not(feature = "chap"))]
                {
                    let _ = (chap_state, &auth, challenge, entropy);
                    chap_result = Err(LoginStatus::INITIATOR_ERROR);
                }
            }
            r.and_then(|()| negotiator.propose(stage, &mut out))
                .map(|()| out.len())
        };
        let len = match result {
            Ok(len) => len,
            Err(e) => {
                let status = status_of(e);
                return self.fail_login_status(status, backend);
            }
        };
        if let Err(status) = chap_result {
            return self.fail_login_status(status, backend);
        }
        // AuthMethod=CHAP agreed but CHAP not yet started: the initiator sends CHAP_A next.
        let auth_done = !policy_chap || self.login.chap == Chap::Done;
        let transit = req.transit
            && negotiator.transit_allowed()
            && (stage != LoginStage::Security || auth_done);

        if let (Some(dst), Some(src)) = (self.login.response.get_mut(..len), out_buf.get(..len)) {
            dst.copy_from_slice(src);
        }
        self.login.response_len = len;
        self.login.response_sent = 0;
        self.login.request.reset();

        if transit {
            response.transit = true;
            response.nsg = req.nsg;
            if req.nsg == WireStage::FULL_FEATURE {
                let negotiated = match negotiator.finish() {
                    Ok(n) => n,
                    Err(e) => return self.fail_login_status(status_of(e), backend),
                };
                let discovery = self.login.session_type == SessionType::Discovery;
                let tsih = match backend.new_session(
                    self.login.initiator_name.as_str(),
                    self.login.isid,
                    self.login.target,
                ) {
                    Ok(t) => t,
                    Err(_) => {
                        return self.fail_login_status(LoginStatus::OUT_OF_RESOURCES, backend)
                    }
                };
                let nexus = match self.login.target {
                    Some(t) => {
                        backend.nexus(self.login.initiator_name.as_str(), self.login.isid, t)
                    }
                    None => 0,
                };
                response.tsih = tsih;
                self.session = Some(SessionInfo {
                    tsih,
                    target: self.login.target,
                    nexus,
                    discovery,
                });
                self.rx_digests = crate::wire::frame::Digests {
                    header: negotiated.header_digest == Digest::Crc32c,
                    data: negotiated.data_digest == Digest::Crc32c,
                };
                self.params = negotiated;
                self.login.completes = true;
                self.login.pending = Some(response);
                self.enqueue(TxItem::LoginResponse);
                return;
            }
        }
        self.login.negotiator = Some(negotiator);
        self.login.pending = Some(response);
        self.enqueue(TxItem::LoginResponse);
    }

    fn blank_response(&self, req: &LoginRequestRepr) -> LoginResponseRepr {
        LoginResponseRepr {
            transit: false,
            continue_: false,
            csg: req.csg,
            nsg: req.csg,
            version_max: 0,
            version_active: 0,
            isid: req.isid,
            tsih: 0,
            itt: req.itt,
            stat_sn: 0,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self
                .exp_cmd_sn
                .wrapping_add(self.config.queue_depth)
                .wrapping_sub(1),
            status: LoginStatus::SUCCESS,
        }
    }

    /// Reads InitiatorName, SessionType and TargetName from the first complete text and checks
    /// them (§13.4–6, §11.13.5).
    fn identify<B: TargetBackend>(&mut self, backend: &mut B) -> Result<(), LoginStatus> {
        let text = self.login.request.text().unwrap_or_default();
        let mut initiator = None;
        let mut target_name = None;
        let mut session_type = SessionType::Normal;
        for (k, v) in TextReader::new(text).map_while(Result::ok) {
            match k {
                "InitiatorName" => initiator = crate::negotiate::value::IscsiName::copy_from(v),
                "TargetName" => target_name = Some(v),
                "SessionType" => {
                    session_type = match v {
                        "Discovery" => SessionType::Discovery,
                        "Normal" => SessionType::Normal,
                        _ => return Err(LoginStatus::SESSION_TYPE_NOT_SUPPORTED),
                    }
                }
                _ => {}
            }
        }
        let initiator = initiator.ok_or(LoginStatus::MISSING_PARAMETER)?;
        let target = match session_type {
            SessionType::Discovery => None,
            _ => {
                let name = target_name.ok_or(LoginStatus::MISSING_PARAMETER)?;
                self.login.target_name =
                    crate::negotiate::value::IscsiName::copy_from(name).unwrap_or_default();
                let id = backend
                    .find_target(name)
                    .ok_or(LoginStatus::TARGET_NOT_FOUND)?;
                if !backend.may_access(id, initiator.as_str()) {
                    // §11.13.5: "the initiator is not allowed access to the given target".
                    // It learns no key of the target; discovery never lists it.
                    return Err(LoginStatus::AUTHORIZATION_FAILURE);
                }
                Some(id)
            }
        };
        self.login.initiator_name = initiator;
        self.login.session_type = session_type;
        self.login.target = target;
        let policy = self.auth_policy_copy(backend);
        let mut config = self.local_config(&policy);
        config.target_portal_group_tag = target.map(|t| backend.portal_group_tag(t));
        if session_type == SessionType::Discovery {
            config.rdma_extensions = false;
        }
        let negotiator = Negotiator::new(Role::Target, config, self.policy()).map_err(status_of)?;
        self.login.negotiator = Some(negotiator);
        Ok(())
    }

    fn auth_policy_copy<'b, B: TargetBackend>(&self, backend: &'b B) -> AuthPolicy<'b> {
        match self.login.target {
            Some(t) => backend.auth_policy(t),
            None => backend.discovery_auth_policy(),
        }
    }

    fn auth_required<B: TargetBackend>(&self, backend: &B) -> bool {
        #[cfg(feature = "chap")]
        return matches!(self.auth_policy_copy(backend), AuthPolicy::Chap { .. });
        #[cfg(not(feature = "chap"))]
        {
            let _ = backend;
            false
        }
    }

    // Out of line: its large locals would otherwise enlarge the stack frame of the
    // per-PDU path it is called from.
    #[inline(never)]
    pub(super) fn emit_login_response(&mut self, buf: &mut [u8]) -> Emitted {
        let Some(mut repr) = self.login.pending else {
            return Emitted::Skip;
        };
        let remaining = self
            .login
            .response_len
            .saturating_sub(self.login.response_sent);
        let seg = remaining.min(LOGIN_SEGMENT as usize);
        let digests = crate::wire::frame::Digests::NONE;
        let need = pdu_len_for(seg, digests);
        if buf.len() < need {
            return Emitted::NeedSpace(need);
        }
        let more = seg < remaining;
        if more {
            // §11.13.? a partial response carries C and never T.
            repr.continue_ = true;
            repr.transit = false;
            repr.nsg = repr.csg;
        }
        repr.stat_sn = self.take_stat_sn();
        repr.exp_cmd_sn = self.exp_cmd_sn;
        repr.max_cmd_sn = self.max_cmd_sn();
        let mut bhs = crate::wire::Bhs::new_unchecked(buf.get_mut(..BHS_LEN).unwrap_or_default());
        if PduRepr::LoginResponse(repr).emit_bhs(&mut bhs).is_err() {
            return Emitted::Skip;
        }
        let start = data_offset(digests);
        let from = self.login.response_sent;
        let src = self.login.response.get(from..from.saturating_add(seg));
        let dst = src.and_then(|s| buf.get_mut(start..)?.get_mut(..s.len()));
        if let (Some(dst), Some(src)) = (dst, src) {
            dst.copy_from_slice(src);
        }
        self.login.response_sent = from.saturating_add(seg);
        Emitted::Done(seal_pdu(buf, seg, digests))
    }

    /// After a Login Response went out: fail, finish, or wait for the next request.
    pub(super) fn login_response_sent<B: TargetBackend>(&mut self, backend: &mut B) {
        if let Some(status) = self.login.fails {
            self.close(backend, CloseReason::LoginFailed(status.to_u16()));
            return;
        }
        if self.login.completes && self.login.response_sent >= self.login.response_len {
            self.tx_digests = self.rx_digests();
            self.stage = Stage::FullFeature;
            self.deadline = None;
            self.login.negotiator = None;
        }
    }

    // ---- Text Request in the full feature phase ----

    // Rare next to SCSI commands, and its large locals would otherwise enlarge the stack
    // frame of the per-PDU path (instructions per I/O, firmware size: docs/benchmarks.md,
    // docs/firmware.md).
    #[cold]
    #[inline(never)]
    pub(super) fn handle_text<B: TargetBackend>(
        &mut self,
        req: &TextRequestRepr,
        data: &[u8],
        backend: &mut B,
    ) {
        if !req.immediate {
            if req.cmd_sn != self.exp_cmd_sn {
                return;
            }
            self.exp_cmd_sn = self.exp_cmd_sn.wrapping_add(1);
        }
        // Continuation of a long response (§11.10: same ITT, our TTT, empty request).
        if req.ttt != RESERVED_TAG
            && req.ttt == self.login.text_ttt
            && req.itt == self.login.text_itt
        {
            self.enqueue(TxItem::TextResponse);
            return;
        }
        self.login.text_itt = req.itt;
        self.login.text_ttt = RESERVED_TAG;
        match self.login.request.push(data, req.continue_) {
            Ok(Assembled::NeedMore) => {
                self.login.response_len = 0;
                self.login.response_sent = 0;
                self.enqueue(TxItem::TextResponse);
                return;
            }
            Ok(Assembled::Complete) => {}
            Err(_) => {
                self.login.request.reset();
                let mut header = [0u8; BHS_LEN];
                let mut bhs = crate::wire::Bhs::new_unchecked(&mut header[..]);
                let _ = PduRepr::TextRequest(*req).emit_bhs(&mut bhs);
                self.reject(crate::wire::RejectReason::PROTOCOL_ERROR, header, 0);
                return;
            }
        }
        let initiator = self.login.initiator_name;
        let this_target = self.session.and_then(|s| s.target);
        let own_name = self.login.target_name;
        let mut text_copy = [0u8; MAX_REQUEST_TEXT];
        let text = self.login.request.text().unwrap_or_default();
        let tl = text.len().min(MAX_REQUEST_TEXT);
        if let (Some(d), Some(s)) = (text_copy.get_mut(..tl), text.get(..tl)) {
            d.copy_from_slice(s);
        }
        self.login.request.reset();
        let mut out = TextWriter::new(&mut self.login.response);
        for (k, v) in TextReader::new(text_copy.get(..tl).unwrap_or_default()).map_while(Result::ok)
        {
            if k == "SendTargets" {
                let mut overflow = false;
                backend.for_each_target(initiator.as_str(), &mut |t| {
                    // §4.3 / Appendix C: "All" in discovery sessions, a name anywhere, and the
                    // empty value for the session's own target in a normal session.
                    let wanted = match v {
                        "All" => this_target.is_none(),
                        "" => this_target.is_some() && t.name == own_name.as_str(),
                        name => name == t.name,
                    };
                    if wanted {
                        overflow |= out.push("TargetName", t.name).is_err();
                        overflow |= out.push("TargetAddress", t.address).is_err();
                    }
                });
                let _ = overflow;
            } else {
                // Operational keys cannot be renegotiated in the full feature phase here.
                let _ = out.push(k, "NotUnderstood");
            }
        }
        self.login.response_len = out.len();
        self.login.response_sent = 0;
        self.enqueue(TxItem::TextResponse);
    }

    // Out of line: its large locals would otherwise enlarge the stack frame of the
    // per-PDU path it is called from.
    #[inline(never)]
    pub(super) fn emit_text_response(&mut self, buf: &mut [u8]) -> Emitted {
        let digests = self.tx_digests();
        let max_seg = self
            .params
            .max_send_data_segment_length(Role::Target)
            .max(512) as usize;
        let remaining = self
            .login
            .response_len
            .saturating_sub(self.login.response_sent);
        let seg = remaining.min(max_seg);
        let need = pdu_len_for(seg, digests);
        if buf.len() < need {
            return Emitted::NeedSpace(need);
        }
        let more = seg < remaining;
        let ttt = if more { self.alloc_ttt() } else { RESERVED_TAG };
        self.login.text_ttt = ttt;
        let repr = TextResponseRepr {
            final_: !more,
            continue_: more,
            lun: crate::wire::Lun(0),
            itt: self.login.text_itt,
            ttt,
            stat_sn: self.take_stat_sn(),
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
        };
        let mut bhs = crate::wire::Bhs::new_unchecked(buf.get_mut(..BHS_LEN).unwrap_or_default());
        if PduRepr::TextResponse(repr).emit_bhs(&mut bhs).is_err() {
            return Emitted::Skip;
        }
        let start = data_offset(digests);
        let from = self.login.response_sent;
        let src = self.login.response.get(from..from.saturating_add(seg));
        let dst = src.and_then(|s| buf.get_mut(start..)?.get_mut(..s.len()));
        if let (Some(dst), Some(src)) = (dst, src) {
            dst.copy_from_slice(src);
        }
        self.login.response_sent = from.saturating_add(seg);
        Emitted::Done(seal_pdu(buf, seg, digests))
    }
}

/// One CHAP step on the target (RFC 7143 §12.1.3): answer CHAP_A with a challenge, or check
/// CHAP_N/CHAP_R and, for mutual CHAP, answer the initiator's challenge.
#[cfg(feature = "chap")]
fn run_chap(
    state: &mut Chap,
    keys: &ChapKeys<'_>,
    auth: &AuthPolicy<'_>,
    challenge: &[u8; CHALLENGE_LEN],
    entropy: &[u8; 32],
    out: &mut TextWriter<'_>,
) -> Result<(), LoginStatus> {
    let AuthPolicy::Chap { initiator, target } = auth else {
        // CHAP keys without AuthMethod=CHAP.
        return Err(LoginStatus::INITIATOR_ERROR);
    };
    match *state {
        Chap::Idle => {
            let offered = keys.a.ok_or(LoginStatus::INITIATOR_ERROR)?;
            // Pick our most preferred algorithm among the initiator's list.
            let algorithm = CHAP_ALGORITHMS
                .iter()
                .copied()
                .find(|a| {
                    offered
                        .split(',')
                        .any(|w| w.trim().parse::<u32>().ok() == Some(a.code()))
                })
                .ok_or(LoginStatus::AUTHENTICATION_FAILURE)?;
            let id = entropy.get(CHALLENGE_LEN % 32).copied().unwrap_or(0);
            let mut digits = [0u8; 10];
            out.push(
                "CHAP_A",
                crate::wire::text::format_u32(algorithm.code(), &mut digits),
            )
            .map_err(|_| LoginStatus::TARGET_ERROR)?;
            out.push(
                "CHAP_I",
                crate::wire::text::format_u32(u32::from(id), &mut digits),
            )
            .map_err(|_| LoginStatus::TARGET_ERROR)?;
            let mut hex = [0u8; 2 + 2 * CHALLENGE_LEN];
            let c = chap::encode_hex(challenge, &mut hex).ok_or(LoginStatus::TARGET_ERROR)?;
            out.push("CHAP_C", c)
                .map_err(|_| LoginStatus::TARGET_ERROR)?;
            *state = Chap::Challenged { algorithm, id };
            Ok(())
        }
        Chap::Challenged { algorithm, id } => {
            let name = keys.n.ok_or(LoginStatus::AUTHENTICATION_FAILURE)?;
            let response = keys.r.ok_or(LoginStatus::AUTHENTICATION_FAILURE)?;
            let mut got = [0u8; MAX_DIGEST_LEN];
            let got_len = chap::decode_binary(response, &mut got)
                .map_err(|_| LoginStatus::AUTHENTICATION_FAILURE)?;
            let mut want = [0u8; MAX_DIGEST_LEN];
            let want_len = algorithm.response(id, initiator.secret, challenge, &mut want);
            let ok = name == initiator.name
                && chap::constant_time_eq(
                    got.get(..got_len).unwrap_or_default(),
                    want.get(..want_len).unwrap_or_default(),
                );
            if !ok {
                return Err(LoginStatus::AUTHENTICATION_FAILURE);
            }
            // Mutual CHAP: the initiator challenges us (§12.1.3: CHAP_I and CHAP_C with CHAP_R).
            if let (Some(i), Some(c)) = (keys.i, keys.c) {
                let creds: &ChapCredentials<'_> =
                    target.as_ref().ok_or(LoginStatus::AUTHENTICATION_FAILURE)?;
                let id: u8 = i
                    .parse::<u32>()
                    .ok()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or(LoginStatus::INITIATOR_ERROR)?;
                let mut their = [0u8; MAX_CHALLENGE_LEN];
                let their_len =
                    chap::decode_binary(c, &mut their).map_err(|_| LoginStatus::INITIATOR_ERROR)?;
                let their = their.get(..their_len).unwrap_or_default();
                // §12.1.3: a target must refuse a challenge equal to the one it sent (reflection).
                if their == challenge.as_slice() {
                    return Err(LoginStatus::AUTHENTICATION_FAILURE);
                }
                let mut answer = [0u8; MAX_DIGEST_LEN];
                let n = algorithm.response(id, creds.secret, their, &mut answer);
                let mut hex = [0u8; 2 + 2 * MAX_DIGEST_LEN];
                let r = chap::encode_hex(answer.get(..n).unwrap_or_default(), &mut hex)
                    .ok_or(LoginStatus::TARGET_ERROR)?;
                out.push("CHAP_N", creds.name)
                    .map_err(|_| LoginStatus::TARGET_ERROR)?;
                out.push("CHAP_R", r)
                    .map_err(|_| LoginStatus::TARGET_ERROR)?;
            } else if keys.i.is_some() || keys.c.is_some() {
                return Err(LoginStatus::INITIATOR_ERROR);
            }
            *state = Chap::Done;
            Ok(())
        }
        Chap::Done => Err(LoginStatus::INITIATOR_ERROR),
    }
}
