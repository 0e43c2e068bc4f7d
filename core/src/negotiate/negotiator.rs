//! The login key negotiator for both roles (RFC 7143 §6.2 text negotiation, §6.3 login stages,
//! §13 keys), driven by the [`KEYS`] table and a [`TransportPolicy`].

use super::config::{LocalConfig, Pref};
use super::error::{LocalFault, NegotiationError, ProtocolFault};
use super::iser::le_unlimited;
use super::keys::{
    self, DefaultValue, Key, KeyDef, Phase, Relevance, ResultFn, Role, ValueKind, KEYS, KEY_COUNT,
};
use super::negotiated::{Negotiated, Resolved};
use super::policy::{PolicyAnswer, TcpPolicy, TransportPolicy, Verdict};
use super::value::{
    bool_word, fingerprint, is_reserved, parse_bool, parse_number, SessionType, IRRELEVANT,
    NOT_UNDERSTOOD, REJECT,
};
use crate::wire::text::{TextError, TextReader, TextWriter};

/// The login stage a step belongs to (RFC 7143 §6.3, the CSG field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LoginStage {
    /// SecurityNegotiation (CSG 0).
    Security,
    /// LoginOperationalNegotiation (CSG 1).
    Operational,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Val {
    Num(u32),
    Bool(bool),
    Word(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// We offered; the peer's next value for the key is the answer.
    Offer(Val),
    /// We answered the peer's offer.
    Answer(Val),
    /// We declared our own value.
    Declaration,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Slot {
    sent: Option<Sent>,
    /// Fingerprint of the value received, once one was.
    received: Option<u32>,
    /// The step our offer was made in, while its answer is missing.
    awaiting: Option<u32>,
    /// The answer may be omitted: the offer stands once the peer had one step to answer.
    optional: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RdmaState {
    Yes,
    No,
    /// We offered Yes and wait for the answer.
    Pending,
    /// Not exchanged yet, and we would accept Yes.
    Unknown,
}

/// Negotiates the keys of one login, as initiator or target.
///
/// One login is a sequence of steps (a request and its response, RFC 7143 §6.3). Per step:
///
/// 1. [`receive`](Self::receive) the peer's complete text (after [`TextAssembler`] reassembly);
///    answers go straight into the outgoing [`TextWriter`]. The initiator skips this on its
///    first request.
/// 2. [`propose`](Self::propose) appends our own offers and declarations.
/// 3. [`transit_allowed`](Self::transit_allowed) says whether the outgoing PDU may carry T=1
///    (nothing we wait for is missing and the transport is satisfied).
///
/// When both sides transit out of the last login stage, [`finish`](Self::finish) checks the
/// outcome against our limits and the transport policy and hands out the [`Negotiated`]
/// parameters.
///
/// Operational keys arriving during security negotiation are answered there (tolerated, as Linux
/// does); security keys outside it are an error.
///
/// [`TextAssembler`]: crate::wire::text::TextAssembler
#[derive(Debug, Clone)]
pub struct Negotiator<'c, P: TransportPolicy = TcpPolicy> {
    role: Role,
    config: LocalConfig<'c>,
    policy: P,
    leading: bool,
    slots: [Slot; KEY_COUNT],
    result: Negotiated,
    step: u32,
    spoke: bool,
    heard: bool,
    hold_transit: bool,
}

/// Who gets the keys a negotiator does not own (see [`Negotiator::receive`]).
type KeyCaller<'f> =
    dyn FnMut(&str, &str, &mut TextWriter<'_>) -> Result<(), NegotiationError> + 'f;

fn push(out: &mut TextWriter<'_>, key: &str, value: &str) -> Result<(), NegotiationError> {
    out.push(key, value).map_err(|e| match e {
        TextError::BufferTooSmall { needed } => {
            NegotiationError::Local(LocalFault::BufferTooSmall { needed })
        }
        _ => NegotiationError::Local(LocalFault::Misconfigured { key: "" }),
    })
}

fn push_val(out: &mut TextWriter<'_>, key: &str, v: Val) -> Result<(), NegotiationError> {
    match v {
        Val::Num(n) => {
            let mut digits = [0u8; 10];
            push(out, key, crate::wire::text::format_u32(n, &mut digits))
        }
        Val::Bool(b) => push(out, key, bool_word(b)),
        Val::Word(w) => push(out, key, w),
    }
}

fn resolved(v: Val) -> Resolved<'static> {
    match v {
        Val::Num(n) => Resolved::Num(n),
        Val::Bool(b) => Resolved::Bool(b),
        Val::Word(w) => Resolved::Word(w),
    }
}

/// A number in the key's legal range.
fn parse_in_range(v: &str, kind: ValueKind) -> Option<u32> {
    let ValueKind::Number {
        min,
        max,
        zero_unlimited,
    } = kind
    else {
        return None;
    };
    let n = u32::try_from(parse_number(v)?).ok()?;
    ((min..=max).contains(&n) || (zero_unlimited && n == 0)).then_some(n)
}

/// The smaller of two values, where 0 may mean unlimited.
fn min_of(a: u32, b: u32, zero_unlimited: bool) -> u32 {
    if zero_unlimited {
        if le_unlimited(a, b) {
            a
        } else {
            b
        }
    } else {
        a.min(b)
    }
}

fn zero_unlimited(kind: ValueKind) -> bool {
    matches!(
        kind,
        ValueKind::Number {
            zero_unlimited: true,
            ..
        }
    )
}

impl<'c> Negotiator<'c, TcpPolicy> {
    /// A negotiator for the leading connection of a new session over iSCSI/TCP.
    pub fn new_tcp(role: Role, config: LocalConfig<'c>) -> Result<Self, NegotiationError> {
        Self::new(role, config, TcpPolicy)
    }
}

impl<'c, P: TransportPolicy> Negotiator<'c, P> {
    /// A negotiator for the leading connection of a new session. The policy adjusts `config`
    /// first; an out-of-range configuration is [`LocalFault::Misconfigured`].
    pub fn new(role: Role, config: LocalConfig<'c>, policy: P) -> Result<Self, NegotiationError> {
        let mut config = config;
        policy.configure(&mut config);
        config.check().map_err(NegotiationError::Local)?;
        let mut result = Negotiated::new();
        if role == Role::Initiator {
            result.session_type = config.session_type;
        }
        Ok(Negotiator {
            role,
            config,
            policy,
            leading: true,
            slots: [Slot::default(); KEY_COUNT],
            result,
            step: 0,
            spoke: false,
            heard: false,
            hold_transit: false,
        })
    }

    /// A negotiator for a connection added to an existing session whose leading connection
    /// settled `session`: leading-only keys are answered Irrelevant and keep the session's values
    /// (RFC 7143 §13, "LO").
    pub fn new_connection(
        role: Role,
        config: LocalConfig<'c>,
        policy: P,
        session: &Negotiated,
    ) -> Result<Self, NegotiationError> {
        let mut n = Self::new(role, config, policy)?;
        n.leading = false;
        n.result.inherit_session(session);
        Ok(n)
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The transport policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The outcome so far (not yet checked; see [`finish`](Self::finish)).
    pub fn negotiated(&self) -> &Negotiated {
        &self.result
    }

    /// Files a peer's fault under the peer's role.
    fn fault(&self, f: ProtocolFault) -> NegotiationError {
        match self.role {
            Role::Target => NegotiationError::Initiator(f),
            Role::Initiator => NegotiationError::Target(f),
        }
    }

    fn slot(&self, idx: usize) -> Slot {
        self.slots.get(idx).copied().unwrap_or_default()
    }

    fn slot_mut(&mut self, idx: usize) -> Option<&mut Slot> {
        self.slots.get_mut(idx)
    }

    /// Consumes the peer's complete text for one step, writing our answers into `out`.
    ///
    /// `caller` gets the keys this negotiator does not own: the security keys (CHAP_*) during
    /// security negotiation, for the authentication layer, which may answer into the same writer.
    pub fn receive<F>(
        &mut self,
        stage: LoginStage,
        text: &[u8],
        out: &mut TextWriter<'_>,
        mut caller: F,
    ) -> Result<(), NegotiationError>
    where
        F: FnMut(&str, &str, &mut TextWriter<'_>) -> Result<(), NegotiationError>,
    {
        self.receive_with(stage, text, out, &mut caller)
    }

    /// [`Self::receive`] with the caller behind a `dyn` (one copy of the key handling for all
    /// callers).
    fn receive_with(
        &mut self,
        stage: LoginStage,
        text: &[u8],
        out: &mut TextWriter<'_>,
        caller: &mut KeyCaller<'_>,
    ) -> Result<(), NegotiationError> {
        self.step = self.step.wrapping_add(1);
        self.hold_transit = false;
        self.policy.begin_step();
        if self.role == Role::Target && !self.heard {
            // Keys before SessionType in the first request must already know the session type.
            for (k, v) in
                TextReader::with_value_limit(text, keys::value_limit).map_while(Result::ok)
            {
                if k == Key::SessionType.name() {
                    if let Some(t) = SessionType::from_word(v) {
                        self.result.session_type = t;
                    }
                }
            }
        }
        for item in TextReader::with_value_limit(text, keys::value_limit) {
            let (k, v) = item.map_err(|e| self.fault(ProtocolFault::Text(e)))?;
            self.handle_pair(stage, k, v, out, caller)?;
        }
        // Offers whose answer is optional stand once the peer let a step pass without one.
        let step = self.step;
        for s in &mut self.slots {
            if s.optional && s.awaiting.is_some_and(|made| made != step) {
                s.awaiting = None;
            }
        }
        if !self.heard {
            self.heard = true;
            if self.role == Role::Target {
                self.check_first_request()?;
            }
        }
        Ok(())
    }

    /// RFC 7143 §13.5 / §13.4: InitiatorName always, TargetName for a Normal session, in the
    /// first Login Request.
    fn check_first_request(&self) -> Result<(), NegotiationError> {
        let has = |k: Key| self.slot(k as usize).received.is_some();
        if !has(Key::InitiatorName) {
            return Err(self.fault(ProtocolFault::MissingParameter {
                key: Key::InitiatorName.name(),
            }));
        }
        if self.result.session_type == SessionType::Normal && !has(Key::TargetName) {
            return Err(self.fault(ProtocolFault::MissingParameter {
                key: Key::TargetName.name(),
            }));
        }
        Ok(())
    }

    fn handle_pair(
        &mut self,
        stage: LoginStage,
        k: &str,
        v: &str,
        out: &mut TextWriter<'_>,
        caller: &mut KeyCaller<'_>,
    ) -> Result<(), NegotiationError> {
        let Some((idx, def)) = keys::lookup(k) else {
            // RFC 7143 §6.2: an unknown key is answered NotUnderstood; a reserved word for a key
            // we never sent is ignored.
            if is_reserved(v) {
                return Ok(());
            }
            debug!("negotiate: key not understood");
            return push(out, k, NOT_UNDERSTOOD);
        };
        if def.phase == Phase::Security && stage != LoginStage::Security {
            return Err(self.fault(ProtocolFault::OutOfStage { key: def.name }));
        }
        if def.result == ResultFn::Caller {
            if def.phase == Phase::FullFeature {
                // SendTargets and the like belong to full feature phase, not to a login.
                return push(out, def.name, IRRELEVANT);
            }
            return caller(k, v, out);
        }
        if !def.senders.allows(self.role.peer()) {
            // A key the peer may not send (e.g. TargetAlias from an initiator).
            return push(out, def.name, REJECT);
        }
        let slot = self.slot(idx);
        let fp = fingerprint(v);
        if let Some(prev) = slot.received {
            if def.key == Key::TargetAddress {
                // RFC 7143 §13.8: TargetAddress may be repeated.
                return self.take_declaration(def, v);
            }
            if prev != fp {
                return Err(self.fault(ProtocolFault::Renegotiated { key: def.name }));
            }
            // The same key=value again (libiscsi repeats its keys in every operational request):
            // repeat our answer, if we gave one.
            return match slot.sent {
                Some(Sent::Answer(val)) => push_val(out, def.name, val),
                _ => Ok(()),
            };
        }
        if let Some(s) = self.slot_mut(idx) {
            s.received = Some(fp);
        }
        match slot.sent {
            Some(Sent::Offer(offered)) => return self.take_answer(idx, def, offered, v),
            Some(Sent::Declaration) if is_reserved(v) => return Ok(()),
            _ => {}
        }
        if is_reserved(v) {
            // Reject / Irrelevant / NotUnderstood answer an offer; as an offer they mean nothing.
            return Err(self.fault(ProtocolFault::InvalidValue { key: def.name }));
        }
        let answerable = def.is_negotiated() || matches!(def.result, ResultFn::Fixed(_));
        if (def.leading_only && !self.leading) || !self.relevant(def) {
            return if answerable {
                self.answer(idx, def, Val::Word(IRRELEVANT), out)
            } else {
                Ok(())
            };
        }
        match self.policy.on_offer(self.role, def, v) {
            Err(f) => return Err(self.fault(f)),
            Ok(Verdict::Answer {
                value,
                hold_transit,
            }) => {
                self.hold_transit |= hold_transit;
                let val = match (value, self.config.pref(def.key)) {
                    // The transport's cap never raises a Min value above our own wish.
                    (PolicyAnswer::Num(n), Pref::Num(ours))
                        if matches!(def.result, ResultFn::Min | ResultFn::DeclaredMin) =>
                    {
                        Val::Num(min_of(n, ours, zero_unlimited(def.kind)))
                    }
                    (PolicyAnswer::Num(n), _) => Val::Num(n),
                    (PolicyAnswer::Word(w), _) => match def.kind {
                        ValueKind::Boolean => parse_bool(w).map_or(Val::Word(w), Val::Bool),
                        _ => Val::Word(w),
                    },
                };
                return self.answer(idx, def, val, out);
            }
            Ok(Verdict::PassThrough) => {}
        }
        match def.result {
            ResultFn::Declarative => self.take_declaration(def, v),
            ResultFn::Fixed(w) => self.answer(idx, def, Val::Word(w), out),
            _ if def.is_negotiated() => self.answer_offer(idx, def, v, out),
            _ => Ok(()),
        }
    }

    fn rdma_state(&self) -> RdmaState {
        if !self.leading {
            return if self.result.rdma_extensions {
                RdmaState::Yes
            } else {
                RdmaState::No
            };
        }
        let slot = self.slot(Key::RDMAExtensions as usize);
        match slot.sent {
            Some(Sent::Answer(Val::Bool(b))) => {
                if b {
                    RdmaState::Yes
                } else {
                    RdmaState::No
                }
            }
            Some(Sent::Offer(Val::Bool(true))) => {
                if slot.received.is_none() {
                    RdmaState::Pending
                } else if self.result.rdma_extensions {
                    RdmaState::Yes
                } else {
                    RdmaState::No
                }
            }
            Some(_) => RdmaState::No,
            None if self.config.rdma_extensions => RdmaState::Unknown,
            None => RdmaState::No,
        }
    }

    /// Whether the initiator is about to offer RDMAExtensions=Yes in this step.
    fn will_offer_rdma(&self) -> bool {
        self.role == Role::Initiator && self.config.rdma_extensions && self.leading
    }

    /// Whether a received key matters in this session (RFC 7143 §13 "Irrelevant when").
    fn relevant(&self, def: &KeyDef) -> bool {
        match def.relevance {
            Relevance::NormalSession => self.result.session_type == SessionType::Normal,
            Relevance::Rdma => self.rdma_state() != RdmaState::No,
            _ => true,
        }
    }

    fn relevant_for_proposal(&self, def: &KeyDef) -> bool {
        match def.relevance {
            Relevance::Always => true,
            Relevance::NormalSession => self.result.session_type == SessionType::Normal,
            Relevance::Rdma => match self.rdma_state() {
                RdmaState::Yes | RdmaState::Pending => true,
                RdmaState::No => false,
                RdmaState::Unknown => self.will_offer_rdma(),
            },
            Relevance::Tcp => match self.rdma_state() {
                RdmaState::Yes | RdmaState::Pending => false,
                RdmaState::No => true,
                RdmaState::Unknown => !self.will_offer_rdma(),
            },
        }
    }

    /// Whether `value` for `def` is within our limits.
    fn acceptable(&self, def: &KeyDef, value: Option<Resolved<'_>>) -> bool {
        match (def.result, self.config.pref(def.key), value) {
            (ResultFn::Min, Pref::Num(p), Some(Resolved::Num(v))) => v <= p,
            (ResultFn::DeclaredMin, Pref::Num(p), Some(Resolved::Num(v))) => {
                if zero_unlimited(def.kind) {
                    le_unlimited(v, p)
                } else {
                    v <= p
                }
            }
            (ResultFn::Max, Pref::Num(p), Some(Resolved::Num(v))) => v >= p,
            (ResultFn::And, Pref::Bool(p), Some(Resolved::Bool(v))) => p || !v,
            (ResultFn::Or, Pref::Bool(p), Some(Resolved::Bool(v))) => !p || v,
            (ResultFn::List, Pref::List(c), Some(Resolved::Word(w))) => c.contains(w),
            _ => true,
        }
    }

    fn current_acceptable(&self, def: &KeyDef) -> bool {
        self.acceptable(def, self.result.get(def.key, self.role))
    }

    /// Writes our answer and records the outcome it fixes.
    fn answer(
        &mut self,
        idx: usize,
        def: &KeyDef,
        val: Val,
        out: &mut TextWriter<'_>,
    ) -> Result<(), NegotiationError> {
        push_val(out, def.name, val)?;
        if let Some(s) = self.slot_mut(idx) {
            s.sent = Some(Sent::Answer(val));
        }
        match val {
            Val::Word(w) if is_reserved(w) => {}
            v => {
                self.result.set(def.key, resolved(v), self.role);
            }
        }
        Ok(())
    }

    /// Answers the peer's offer per the key's result function (RFC 7143 §6.2.1, §6.2.2).
    fn answer_offer(
        &mut self,
        idx: usize,
        def: &KeyDef,
        v: &str,
        out: &mut TextWriter<'_>,
    ) -> Result<(), NegotiationError> {
        let ans = match (def.kind, self.config.pref(def.key)) {
            (kind @ ValueKind::Number { .. }, Pref::Num(ours)) => {
                parse_in_range(v, kind).map(|n| match def.result {
                    ResultFn::Max => Val::Num(n.max(ours)),
                    ResultFn::Min | ResultFn::DeclaredMin => {
                        Val::Num(min_of(n, ours, zero_unlimited(kind)))
                    }
                    _ => Val::Num(n),
                })
            }
            (ValueKind::Boolean, Pref::Bool(ours)) => parse_bool(v).map(|b| match def.result {
                ResultFn::And => Val::Bool(b && ours),
                ResultFn::Or => Val::Bool(b || ours),
                _ => Val::Bool(b),
            }),
            (ValueKind::List(words), Pref::List(ours)) => {
                // The first offered value we support; unknown values are skipped (§6.2.1).
                // (Split as bytes: a `char` pattern would link `memchr` for this one use.)
                let pick = v
                    .as_bytes()
                    .split(|b| *b == b',')
                    .find_map(|w| words.iter().find(|x| x.as_bytes() == w && ours.contains(x)));
                match pick {
                    Some(&w) => Some(Val::Word(w)),
                    None if def.key == Key::AuthMethod => {
                        return Err(self.fault(ProtocolFault::AuthMethodMismatch));
                    }
                    None => {
                        return Err(self.fault(ProtocolFault::NoCommonValue { key: def.name }));
                    }
                }
            }
            _ => None,
        };
        match ans {
            Some(val) => self.answer(idx, def, val, out),
            None => {
                // Malformed or out of range: Reject (§6.2), leaving the default, unless we
                // cannot live with the default.
                if !self.current_acceptable(def) {
                    return Err(self.fault(ProtocolFault::InvalidValue { key: def.name }));
                }
                self.answer(idx, def, Val::Word(REJECT), out)
            }
        }
    }

    /// Takes the peer's answer to our offer (RFC 7143 §6.2.2).
    fn take_answer(
        &mut self,
        idx: usize,
        def: &KeyDef,
        offered: Val,
        v: &str,
    ) -> Result<(), NegotiationError> {
        if let Some(s) = self.slot_mut(idx) {
            s.awaiting = None;
        }
        let invalid = ProtocolFault::InvalidAnswer { key: def.name };
        if is_reserved(v) {
            // The default stands (an optional offer set the outcome early: undo that).
            self.result.set(def.key, Resolved::Default, self.role);
            if v == IRRELEVANT {
                return Ok(());
            }
            // Reject / NotUnderstood: fatal if we cannot live with the default.
            return if self.current_acceptable(def) {
                Ok(())
            } else {
                Err(self.fault(ProtocolFault::Rejected { key: def.name }))
            };
        }
        let outcome = match (def.kind, offered) {
            (kind @ ValueKind::Number { .. }, Val::Num(o)) => {
                let a = parse_in_range(v, kind).ok_or(self.fault(invalid))?;
                let ok = match def.result {
                    ResultFn::Min => a <= o,
                    ResultFn::Max => a >= o,
                    _ => true,
                };
                if !ok {
                    return Err(self.fault(invalid));
                }
                if def.result == ResultFn::DeclaredMin {
                    Val::Num(min_of(a, o, zero_unlimited(kind)))
                } else {
                    Val::Num(a)
                }
            }
            (ValueKind::Boolean, Val::Bool(o)) => {
                let a = parse_bool(v).ok_or(self.fault(invalid))?;
                match def.result {
                    ResultFn::And if !o && a => return Err(self.fault(invalid)),
                    ResultFn::Or if o && !a => return Err(self.fault(invalid)),
                    ResultFn::And => Val::Bool(o && a),
                    ResultFn::Or => Val::Bool(o || a),
                    _ => Val::Bool(a),
                }
            }
            (ValueKind::List(words), Val::Word(_)) => {
                let offered_here = match self.config.pref(def.key) {
                    Pref::List(c) => c.contains(v),
                    _ => false,
                };
                match words.iter().find(|w| **w == v) {
                    Some(&w) if offered_here => Val::Word(w),
                    _ => return Err(self.fault(invalid)),
                }
            }
            _ => return Ok(()),
        };
        self.result.set(def.key, resolved(outcome), self.role);
        if self.current_acceptable(def) {
            Ok(())
        } else {
            Err(self.fault(invalid))
        }
    }

    /// Takes the peer's declaration (RFC 7143 §6.2 declarative keys).
    fn take_declaration(&mut self, def: &KeyDef, v: &str) -> Result<(), NegotiationError> {
        let invalid = ProtocolFault::InvalidValue { key: def.name };
        let declarer = self.role.peer();
        let stored = match def.kind {
            ValueKind::Number { .. } => {
                let n = parse_in_range(v, def.kind).ok_or(self.fault(invalid))?;
                self.result.set(def.key, Resolved::Num(n), declarer)
            }
            _ if def.key == Key::SessionType => {
                let t = SessionType::from_word(v)
                    .ok_or(self.fault(ProtocolFault::UnsupportedSessionType))?;
                let served = match t {
                    SessionType::Discovery => self.config.allow_discovery,
                    SessionType::Normal => self.config.allow_normal,
                };
                if self.role == Role::Target && !served {
                    return Err(self.fault(ProtocolFault::UnsupportedSessionType));
                }
                self.result.set(def.key, Resolved::Word(t.word()), declarer)
            }
            _ => !v.is_empty() && self.result.set(def.key, Resolved::Word(v), declarer),
        };
        if stored {
            Ok(())
        } else {
            Err(self.fault(invalid))
        }
    }

    fn should_propose(&self, idx: usize, def: &KeyDef, stage: LoginStage, first: bool) -> bool {
        let slot = self.slot(idx);
        // Both sides declare their own MaxRecvDataSegmentLength; an offer the peer made first is
        // answered, not offered again.
        let peer_spoke = slot.received.is_some() && def.result != ResultFn::Declarative;
        if slot.sent.is_some() || peer_spoke {
            return false;
        }
        if !def.senders.allows(self.role) || (def.leading_only && !self.leading) {
            return false;
        }
        let in_phase = match def.phase {
            Phase::Security => {
                def.key == Key::AuthMethod
                    && self.role == Role::Initiator
                    && stage == LoginStage::Security
            }
            Phase::Login => first,
            Phase::Operational => stage == LoginStage::Operational,
            Phase::All => match def.key {
                Key::MaxRecvDataSegmentLength => stage == LoginStage::Operational,
                Key::TargetAddress => false,
                _ => first,
            },
            Phase::FullFeature => false,
        };
        if def.key == Key::TargetName && self.result.session_type != SessionType::Normal {
            return false;
        }
        // A target offers a key the initiator left out only when the value that silence
        // leaves (the RFC default) is outside its limits: every offer of the target holds the
        // stage open for one more round trip (it cannot transit with an offer open), which
        // some initiators race against (open-iscsi adding sessions back to back).
        // RDMAExtensions is a choice of transport, not a limit (RFC 7145 §6.3).
        if self.role == Role::Target
            && def.key != Key::RDMAExtensions
            && def.is_negotiated()
            && def.result != ResultFn::Declarative
            && self.current_acceptable(def)
        {
            return false;
        }
        in_phase && self.relevant_for_proposal(def)
    }

    fn pref_is_default(def: &KeyDef, pref: Pref<'_>) -> bool {
        match (def.default, pref) {
            (DefaultValue::Num(d), Pref::Num(p)) => d == p,
            (DefaultValue::Bool(d), Pref::Bool(p)) => d == p,
            (DefaultValue::Word(d), Pref::List(c)) => c.as_slice().first() == Some(&d),
            _ => false,
        }
    }

    /// Appends our offers and declarations for this step into `out`.
    ///
    /// The first call states the names, SessionType (initiator), TargetPortalGroupTag and alias
    /// (target). In security negotiation the initiator offers AuthMethod. In operational
    /// negotiation each side declares MaxRecvDataSegmentLength (or, under iSER, states the
    /// RFC 7145 lengths) and offers the keys the peer has not offered yet: an initiator every
    /// key whose wish differs from the RFC default, a target only those whose RFC default is
    /// outside its limits (and RDMAExtensions), so that its login ends in one round trip.
    pub fn propose(
        &mut self,
        stage: LoginStage,
        out: &mut TextWriter<'_>,
    ) -> Result<(), NegotiationError> {
        let first = !self.spoke;
        for (idx, def) in KEYS.iter().enumerate() {
            if !self.should_propose(idx, def, stage, first) {
                continue;
            }
            let pref = self.config.pref(def.key);
            if def.result == ResultFn::Declarative {
                let stated = match pref {
                    Pref::Text(t) => {
                        push(out, def.name, t)?;
                        Resolved::Word(t)
                    }
                    Pref::Num(n) => {
                        push_val(out, def.name, Val::Num(n))?;
                        Resolved::Num(n)
                    }
                    Pref::List(c) => {
                        let Some(&w) = c.as_slice().first() else {
                            continue;
                        };
                        push(out, def.name, w)?;
                        Resolved::Word(w)
                    }
                    _ => continue,
                };
                self.result.set(def.key, stated, self.role);
                if let Some(s) = self.slot_mut(idx) {
                    s.sent = Some(Sent::Declaration);
                }
                continue;
            }
            if !def.is_negotiated() {
                continue;
            }
            let forced = def.key == Key::AuthMethod;
            if !forced && Self::pref_is_default(def, pref) {
                continue;
            }
            let (val, optional) = match pref {
                Pref::Num(n) => {
                    push_val(out, def.name, Val::Num(n))?;
                    (Val::Num(n), def.result == ResultFn::DeclaredMin)
                }
                Pref::Bool(b) => {
                    push_val(out, def.name, Val::Bool(b))?;
                    let optional = matches!(
                        (def.result, b),
                        (ResultFn::And, false) | (ResultFn::Or, true)
                    );
                    (Val::Bool(b), optional)
                }
                Pref::List(c) => {
                    let mut buf = [0u8; 96];
                    let mut len = 0usize;
                    for (i, w) in c.as_slice().iter().enumerate() {
                        let sep: &[u8] = if i == 0 { b"" } else { b"," };
                        for part in [sep, w.as_bytes()] {
                            let end = len.saturating_add(part.len());
                            if let Some(dst) =
                                buf.get_mut(len..end).and_then(|d| d.get_mut(..part.len()))
                            {
                                dst.copy_from_slice(part);
                                len = end;
                            }
                        }
                    }
                    let list = buf
                        .get(..len)
                        .and_then(|b| core::str::from_utf8(b).ok())
                        .unwrap_or("");
                    push(out, def.name, list)?;
                    let Some(&first) = c.as_slice().first() else {
                        continue;
                    };
                    (Val::Word(first), false)
                }
                _ => continue,
            };
            if optional {
                // Stands if no answer comes (RFC 7143 §6.2.2; RFC 7145 §6 declarations).
                self.result.set(def.key, resolved(val), self.role);
            }
            let step = self.step;
            if let Some(s) = self.slot_mut(idx) {
                s.sent = Some(Sent::Offer(val));
                s.awaiting = Some(step);
                s.optional = optional;
            }
        }
        self.spoke = true;
        Ok(())
    }

    /// Whether the PDU about to be sent may carry the T (transit) bit: the transport policy does
    /// not hold the step, and no offer of ours is open, except that an initiator's offers made in
    /// this very request may be (the target answers them before it transits) unless it is
    /// RDMAExtensions, whose answer decides which keys are relevant (RFC 7145 §6).
    ///
    /// An offer whose answer is optional still keeps the target from transiting in the same
    /// response, so the initiator can answer it.
    pub fn transit_allowed(&self) -> bool {
        if self.hold_transit || !self.policy.transit_allowed() {
            return false;
        }
        self.slots
            .iter()
            .zip(KEYS.iter())
            .all(|(s, def)| match s.awaiting {
                None => true,
                Some(step) => {
                    self.role == Role::Initiator
                        && step == self.step
                        && def.key != Key::RDMAExtensions
                }
            })
    }

    /// Whether some offer of ours still waits for a required answer.
    pub fn awaiting_answers(&self) -> bool {
        self.slots
            .iter()
            .any(|s| s.awaiting.is_some() && !s.optional)
    }

    /// Ends the login: checks that every offer got its answer, that the outcome is within our
    /// limits and acceptable to the transport, and returns it. FirstBurstLength is capped at
    /// MaxBurstLength (RFC 7143 §13.14).
    pub fn finish(mut self) -> Result<Negotiated, NegotiationError> {
        for (slot, def) in self.slots.iter().zip(KEYS.iter()) {
            if slot.awaiting.is_some() && !slot.optional {
                return Err(match self.role {
                    // The target transited while our offer was open.
                    Role::Initiator => self.fault(ProtocolFault::MissingAnswer { key: def.name }),
                    // We never transit with an open offer: the caller finished early.
                    Role::Target => {
                        NegotiationError::Local(LocalFault::Unanswered { key: def.name })
                    }
                });
            }
        }
        for def in &KEYS {
            // Keys that ended irrelevant keep their defaults on both sides (RFC 7143 §13,
            // RFC 7145 §6 "Irrelevant when").
            let leading_ok = self.leading || !def.leading_only;
            if leading_ok && def.default != DefaultValue::Nothing && !self.relevant(def) {
                self.result.set(def.key, Resolved::Default, self.role);
            }
        }
        self.result.first_burst_length = self
            .result
            .first_burst_length
            .min(self.result.max_burst_length);
        for def in &KEYS {
            let irrelevant = (def.leading_only && !self.leading) || !self.relevant(def);
            if def.is_negotiated() && !irrelevant && !self.current_acceptable(def) {
                return Err(self.fault(ProtocolFault::InvalidAnswer { key: def.name }));
            }
        }
        self.policy.check(&self.result).map_err(|f| self.fault(f))?;
        Ok(self.result)
    }
}
