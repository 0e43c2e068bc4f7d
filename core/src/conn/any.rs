//! `AnyConn`: a connection in any stage, for where connections are stored (tables, slots), with
//! a checked downcast per stage and an event-driven `step` (DESIGN §5: "an enum (`AnyConn`) where
//! connections are stored").

use super::hello::HelloError;
use super::stage::{Allocated, Closing, Connected, HelloSent, LoggedIn, StageKind};
use super::{Conn, ConnParams, Enabled, Role, Step, TaskToken};
use crate::time::Instant;
use crate::wire::{CmPrivateData, HelloReplyRepr, HelloRepr};

/// A connection in whichever stage it is in.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyConn<R = ()> {
    /// See [`Allocated`].
    Allocated(Conn<Allocated, R>),
    /// See [`Connected`].
    Connected(Conn<Connected, R>),
    /// See [`HelloSent`].
    HelloSent(Conn<HelloSent, R>),
    /// See [`LoggedIn`].
    LoggedIn(Conn<LoggedIn, R>),
    /// See [`Closing`].
    Closing(Conn<Closing, R>),
}

/// An input for [`AnyConn::step`]: each maps to one typed transition.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnEvent {
    /// Channel established with this peer CM private data (`Allocated::connect`).
    Connect(CmPrivateData),
    /// Login done (`Connected::enable_datamover`).
    EnableDatamover,
    /// A HelloReply arrived (`HelloSent::handle_hello_reply`).
    HelloReply(HelloReplyRepr),
    /// A Hello arrived (target, `LoggedIn::answer_hello`).
    Hello(HelloRepr),
    /// Time passed (`HelloSent::handle_timeout`; nothing elsewhere).
    Timeout,
    /// Start a task (`LoggedIn::begin_task`).
    BeginTask,
    /// A task ended (`end_task` in `LoggedIn` or `Closing`).
    EndTask(TaskToken),
    /// Disconnect (`close` in `Connected`, `HelloSent`, `LoggedIn`).
    Close,
    /// Tear down before full feature phase (`abort` in `Allocated`, `Connected`).
    Abort,
    /// Release a drained connection (`Closing::into_resources`).
    Release,
}

/// What [`AnyConn::step`] did.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
#[non_exhaustive]
pub enum StepOutcome<R> {
    /// Applied; the stage may have changed (see [`AnyConn::stage`]).
    Done,
    /// Now in `HelloSent`: send this Hello.
    SendHello(HelloRepr),
    /// Send this HelloReply (stage unchanged).
    SendHelloReply(HelloReplyRepr),
    /// A task began; hand the token back with [`ConnEvent::EndTask`].
    TaskBegun(TaskToken),
    /// The Hello exchange failed; now in `Closing`.
    HelloFailed(HelloError),
    /// The connection is gone; here are its resources.
    Released(R),
    /// Not valid now (wrong stage, task limit, foreign token, not drained, no connection); the
    /// connection is unchanged and the event comes back.
    Refused(ConnEvent),
}

macro_rules! any_from_and_downcasts {
    ($($stage:ident: $as_ref:ident, $as_mut:ident, $try_into:ident;)*) => {
        $(
            impl<R> From<Conn<$stage, R>> for AnyConn<R> {
                fn from(c: Conn<$stage, R>) -> Self {
                    AnyConn::$stage(c)
                }
            }
        )*
        impl<R> AnyConn<R> {
            $(
                #[doc = concat!("The connection if it is in `", stringify!($stage), "`.")]
                pub const fn $as_ref(&self) -> Option<&Conn<$stage, R>> {
                    match self {
                        AnyConn::$stage(c) => Some(c),
                        _ => None,
                    }
                }

                #[doc = concat!("The connection, mutably, if it is in `", stringify!($stage), "`.")]
                pub fn $as_mut(&mut self) -> Option<&mut Conn<$stage, R>> {
                    match self {
                        AnyConn::$stage(c) => Some(c),
                        _ => None,
                    }
                }

                #[doc = concat!("The typed connection if it is in `", stringify!($stage),
                    "`; otherwise `self` back.")]
                pub fn $try_into(self) -> Result<Conn<$stage, R>, Self> {
                    match self {
                        AnyConn::$stage(c) => Ok(c),
                        other => Err(other),
                    }
                }
            )*
        }
    };
}

any_from_and_downcasts! {
    Allocated: as_allocated, as_allocated_mut, try_into_allocated;
    Connected: as_connected, as_connected_mut, try_into_connected;
    HelloSent: as_hello_sent, as_hello_sent_mut, try_into_hello_sent;
    LoggedIn: as_logged_in, as_logged_in_mut, try_into_logged_in;
    Closing: as_closing, as_closing_mut, try_into_closing;
}

/// Run `$body` with `$c` bound to the typed connection, whatever the stage.
macro_rules! each {
    ($self:expr, $c:ident => $body:expr) => {
        match $self {
            AnyConn::Allocated($c) => $body,
            AnyConn::Connected($c) => $body,
            AnyConn::HelloSent($c) => $body,
            AnyConn::LoggedIn($c) => $body,
            AnyConn::Closing($c) => $body,
        }
    };
}

impl<R> AnyConn<R> {
    /// A new connection in `Allocated`.
    pub const fn new(params: ConnParams, resources: R) -> Self {
        AnyConn::Allocated(Conn::new(params, resources))
    }

    /// The current stage.
    pub const fn stage(&self) -> StageKind {
        each!(self, c => c.stage())
    }

    /// The parameters given at creation.
    pub const fn params(&self) -> &ConnParams {
        each!(self, c => c.params())
    }

    /// The adapter-assigned connection id.
    pub const fn conn_id(&self) -> u32 {
        self.params().conn_id
    }

    /// Tasks begun and not yet ended.
    pub const fn outstanding(&self) -> u32 {
        each!(self, c => c.outstanding())
    }

    /// The adapter's resources.
    pub const fn resources(&self) -> &R {
        each!(self, c => c.resources())
    }

    /// The adapter's resources, mutably.
    pub fn resources_mut(&mut self) -> &mut R {
        each!(self, c => c.resources_mut())
    }

    /// When [`ConnEvent::Timeout`] should next be delivered (only `HelloSent` waits).
    #[must_use]
    pub const fn poll_timeout(&self) -> Option<Instant> {
        match self {
            AnyConn::HelloSent(c) => c.poll_timeout(),
            _ => None,
        }
    }

    /// Apply `event` at time `now`. Returns the connection (`None` once released) and what
    /// happened. Never drops the resources: they are either still inside or in
    /// [`StepOutcome::Released`].
    pub fn step(self, event: ConnEvent, now: Instant) -> (Option<Self>, StepOutcome<R>) {
        use ConnEvent as E;
        use StepOutcome as O;
        match (self, event) {
            (AnyConn::Allocated(c), E::Connect(flags)) => (Some(c.connect(flags).into()), O::Done),
            (AnyConn::Allocated(c), E::Abort) => (None, O::Released(c.abort())),

            (AnyConn::Connected(c), E::EnableDatamover) => match c.enable_datamover(now) {
                Enabled::LoggedIn(c) => (Some(c.into()), O::Done),
                Enabled::HelloSent(c) => {
                    let hello = c.hello_to_send();
                    (Some(c.into()), O::SendHello(hello))
                }
            },
            (AnyConn::Connected(c), E::Close) => (Some(c.close().into()), O::Done),
            (AnyConn::Connected(c), E::Abort) => (None, O::Released(c.abort())),

            (AnyConn::HelloSent(c), E::HelloReply(reply)) => {
                match c.handle_hello_reply(reply, now) {
                    Ok(c) => (Some(c.into()), O::Done),
                    Err((c, e)) => (Some(c.into()), O::HelloFailed(e)),
                }
            }
            (AnyConn::HelloSent(c), E::Timeout) => match c.handle_timeout(now) {
                Step::Stay(c) => (Some(c.into()), O::Done),
                Step::Next((c, e)) => (Some(c.into()), O::HelloFailed(e)),
            },
            (AnyConn::HelloSent(c), E::Close) => (Some(c.close().into()), O::Done),

            (AnyConn::LoggedIn(mut c), E::BeginTask) => match c.begin_task() {
                Ok(t) => (Some(c.into()), O::TaskBegun(t)),
                Err(_) => (Some(c.into()), O::Refused(E::BeginTask)),
            },
            (AnyConn::LoggedIn(mut c), E::EndTask(t)) => match c.end_task(t) {
                Ok(()) => (Some(c.into()), O::Done),
                Err(t) => (Some(c.into()), O::Refused(E::EndTask(t))),
            },
            (AnyConn::LoggedIn(c), E::Hello(hello)) if c.role() == Role::Target => {
                let reply = c.answer_hello(hello);
                (Some(c.into()), O::SendHelloReply(reply))
            }
            (AnyConn::LoggedIn(c), E::Close) => (Some(c.close().into()), O::Done),

            (AnyConn::Closing(mut c), E::EndTask(t)) => match c.end_task(t) {
                Ok(()) => (Some(c.into()), O::Done),
                Err(t) => (Some(c.into()), O::Refused(E::EndTask(t))),
            },
            (AnyConn::Closing(c), E::Release) => match c.into_resources() {
                Ok(r) => (None, O::Released(r)),
                Err(c) => (Some(c.into()), O::Refused(E::Release)),
            },

            // Only HelloSent has a timer.
            (this, E::Timeout) => (Some(this), O::Done),
            (this, event) => (Some(this), O::Refused(event)),
        }
    }

    /// [`step`](Self::step) in place on a table slot: the slot is emptied when the connection is
    /// released. An empty slot refuses every event.
    pub fn step_slot(slot: &mut Option<Self>, event: ConnEvent, now: Instant) -> StepOutcome<R> {
        match slot.take() {
            Some(conn) => {
                let (next, outcome) = conn.step(event, now);
                *slot = next;
                outcome
            }
            None => StepOutcome::Refused(event),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::super::*;
    use crate::time::{Duration, Instant};
    use crate::wire::{CmPrivateData, HelloReplyRepr, HelloRepr};
    use proptest::prelude::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn test_any_downcasts() {
        let mut a: AnyConn<u8> = AnyConn::new(ConnParams::target(1), 3);
        assert_eq!(a.stage(), StageKind::Allocated);
        assert!(a.as_allocated().is_some());
        assert!(a.as_logged_in_mut().is_none());
        let a = a.try_into_logged_in().unwrap_err();
        let c = a.try_into_allocated().unwrap();
        let a: AnyConn<u8> = c.connect(CmPrivateData::default()).into();
        assert_eq!(a.stage(), StageKind::Connected);
        assert_eq!(*a.resources(), 3);
    }

    #[test]
    fn test_any_step_slot_full_life() {
        let mut slot = Some(AnyConn::new(ConnParams::target(1), 5u8));
        let now = Instant(0);
        let s = &mut slot;
        assert_eq!(
            AnyConn::step_slot(s, ConnEvent::Connect(CmPrivateData::default()), now),
            StepOutcome::Done
        );
        assert_eq!(
            AnyConn::step_slot(s, ConnEvent::EnableDatamover, now),
            StepOutcome::Done
        );
        assert_eq!(s.as_ref().unwrap().stage(), StageKind::LoggedIn);
        let StepOutcome::TaskBegun(t) = AnyConn::step_slot(s, ConnEvent::BeginTask, now) else {
            panic!()
        };
        assert_eq!(
            AnyConn::step_slot(s, ConnEvent::Close, now),
            StepOutcome::Done
        );
        assert_eq!(
            AnyConn::step_slot(s, ConnEvent::Release, now),
            StepOutcome::Refused(ConnEvent::Release)
        );
        assert_eq!(
            AnyConn::step_slot(s, ConnEvent::EndTask(t), now),
            StepOutcome::Done
        );
        assert_eq!(
            AnyConn::step_slot(s, ConnEvent::Release, now),
            StepOutcome::Released(5)
        );
        assert!(slot.is_none());
        assert_eq!(
            AnyConn::step_slot(&mut slot, ConnEvent::Close, now),
            StepOutcome::Refused(ConnEvent::Close)
        );
    }

    #[test]
    fn test_any_initiator_hello_path() {
        let mut p = ConnParams::initiator(2);
        p.send_hello = true;
        let mut slot = Some(AnyConn::new(p, ()));
        let s = &mut slot;
        let t0 = Instant(100);
        let _ = AnyConn::step_slot(s, ConnEvent::Connect(CmPrivateData::default()), t0);
        assert_eq!(
            AnyConn::step_slot(s, ConnEvent::EnableDatamover, t0),
            StepOutcome::SendHello(p.local_hello())
        );
        assert_eq!(s.as_ref().unwrap().poll_timeout(), Some(t0 + HELLO_TIMEOUT));
        let out = AnyConn::step_slot(s, ConnEvent::Timeout, t0 + HELLO_TIMEOUT);
        assert_eq!(out, StepOutcome::HelloFailed(HelloError::HelloTimeout));
        assert_eq!(s.as_ref().unwrap().stage(), StageKind::Closing);
        assert_eq!(s.as_ref().unwrap().poll_timeout(), None);
    }

    #[test]
    fn test_any_initiator_refuses_hello() {
        let mut slot = Some(AnyConn::new(ConnParams::initiator(2), ()));
        let s = &mut slot;
        let _ = AnyConn::step_slot(s, ConnEvent::Connect(CmPrivateData::default()), Instant(0));
        let _ = AnyConn::step_slot(s, ConnEvent::EnableDatamover, Instant(0));
        let h = ConnParams::initiator(9).local_hello();
        assert_eq!(
            AnyConn::step_slot(s, ConnEvent::Hello(h), Instant(0)),
            StepOutcome::Refused(ConnEvent::Hello(h))
        );
    }

    /// Resources that count their own drops: the core must never drop one.
    #[derive(Debug)]
    struct Res {
        drops: Rc<Cell<u32>>,
    }

    /// Only `Released` carries a `Res`, and those arms never compare it.
    impl PartialEq for Res {
        fn eq(&self, _: &Self) -> bool {
            true
        }
    }

    impl Drop for Res {
        fn drop(&mut self) {
            self.drops.set(self.drops.get() + 1);
        }
    }

    #[derive(Debug, Clone)]
    enum Ev {
        New {
            initiator: bool,
            send_hello: bool,
            max_tasks: u32,
        },
        Connect,
        Enable,
        ReplyOk,
        ReplyReject,
        ReplyBadVersion,
        Hello {
            min: u8,
            max: u8,
        },
        Advance(u64),
        Begin,
        End(usize),
        EndForeign(usize),
        Close,
        Abort,
        Release,
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            2 => (any::<bool>(), any::<bool>(), 1u32..4).prop_map(|(initiator, send_hello, max_tasks)| {
                Ev::New { initiator, send_hello, max_tasks }
            }),
            3 => Just(Ev::Connect),
            3 => Just(Ev::Enable),
            2 => Just(Ev::ReplyOk),
            1 => Just(Ev::ReplyReject),
            1 => Just(Ev::ReplyBadVersion),
            1 => (ISER_VERSION - 1..ISER_VERSION + 2, ISER_VERSION - 1..ISER_VERSION + 2).prop_map(|(min, max)| Ev::Hello { min, max }),
            2 => (0u64..700).prop_map(Ev::Advance),
            4 => Just(Ev::Begin),
            3 => any::<usize>().prop_map(Ev::End),
            1 => any::<usize>().prop_map(Ev::EndForeign),
            1 => Just(Ev::Close),
            1 => Just(Ev::Abort),
            2 => Just(Ev::Release),
        ]
    }

    const SLOTS: usize = 3;

    proptest! {
        /// Random event sequences over a small connection table never panic, always leave each
        /// slot empty or in a defined stage consistent with the event, keep the outstanding
        /// count equal to the tokens held, and never lose (drop) a resource.
        #[test]
        fn prop_any_conn_sequences(evs in proptest::collection::vec((0usize..SLOTS, ev()), 0..200)) {
            let drops = Rc::new(Cell::new(0u32));
            let mut slots: [Option<AnyConn<Res>>; SLOTS] = Default::default();
            let mut tokens: Vec<TaskToken> = Vec::new();
            let mut returned: Vec<Res> = Vec::new();
            let mut created = 0u32;
            let mut next_id = 0u32;
            let mut now = Instant(1_000_000);

            for (i, e) in evs {
                let before = slots[i].as_ref().map(|c| c.stage());
                let deadline = slots[i].as_ref().and_then(|c| c.poll_timeout());
                let params = slots[i].as_ref().map(|c| *c.params());
                let outstanding = slots[i].as_ref().map_or(0, |c| c.outstanding());
                let reply = |reject, cur| HelloReplyRepr { reject, max_ver: ISER_VERSION, cur_ver: cur, iser_ord: 4 };
                let event = match e {
                    Ev::New { initiator, send_hello, max_tasks } => {
                        if slots[i].is_none() {
                            let mut p = if initiator { ConnParams::initiator(next_id) } else { ConnParams::target(next_id) };
                            p.send_hello = send_hello;
                            p.max_tasks = max_tasks;
                            next_id += 1;
                            created += 1;
                            slots[i] = Some(AnyConn::new(p, Res { drops: drops.clone() }));
                        }
                        None
                    }
                    Ev::Connect => Some(ConnEvent::Connect(CmPrivateData { zbva_not_supported: true, send_inv_not_supported: false })),
                    Ev::Enable => Some(ConnEvent::EnableDatamover),
                    Ev::ReplyOk => Some(ConnEvent::HelloReply(reply(false, ISER_VERSION))),
                    Ev::ReplyReject => Some(ConnEvent::HelloReply(reply(true, ISER_VERSION))),
                    Ev::ReplyBadVersion => Some(ConnEvent::HelloReply(reply(false, ISER_VERSION + 1))),
                    Ev::Hello { min, max } => Some(ConnEvent::Hello(HelloRepr { min_ver: min, max_ver: max, iser_ird: 2 })),
                    Ev::Advance(ms) => {
                        now = now + Duration::from_millis(ms);
                        Some(ConnEvent::Timeout)
                    }
                    Ev::Begin => Some(ConnEvent::BeginTask),
                    Ev::End(k) | Ev::EndForeign(k) => {
                        let mine = |t: &TaskToken| Some(t.conn_id()) == params.map(|p| p.conn_id);
                        let want_mine = matches!(e, Ev::End(_));
                        let candidates: Vec<usize> = (0..tokens.len()).filter(|&j| mine(&tokens[j]) == want_mine).collect();
                        if candidates.is_empty() { None } else {
                            Some(ConnEvent::EndTask(tokens.swap_remove(candidates[k % candidates.len()])))
                        }
                    }
                    Ev::Close => Some(ConnEvent::Close),
                    Ev::Abort => Some(ConnEvent::Abort),
                    Ev::Release => Some(ConnEvent::Release),
                };
                let Some(event) = event else { continue };
                let kind = core::mem::discriminant(&event);
                let out = AnyConn::step_slot(&mut slots[i], event, now);
                let after = slots[i].as_ref().map(|c| c.stage());

                use StageKind as S;
                match (&e, before, out) {
                    (_, None, StepOutcome::Refused(ev)) => {
                        prop_assert_eq!(core::mem::discriminant(&ev), kind);
                        if let ConnEvent::EndTask(t) = ev { tokens.push(t); }
                    }
                    (Ev::Connect, Some(S::Allocated), StepOutcome::Done) => prop_assert_eq!(after, Some(S::Connected)),
                    (Ev::Enable, Some(S::Connected), out) => {
                        let p = params.unwrap();
                        if p.role == Role::Initiator && p.send_hello {
                            prop_assert_eq!(out, StepOutcome::SendHello(p.local_hello()));
                            prop_assert_eq!(after, Some(S::HelloSent));
                            prop_assert_eq!(slots[i].as_ref().unwrap().poll_timeout(), Some(now + HELLO_TIMEOUT));
                        } else {
                            prop_assert_eq!(out, StepOutcome::Done);
                            prop_assert_eq!(after, Some(S::LoggedIn));
                        }
                    }
                    (Ev::ReplyOk | Ev::ReplyReject | Ev::ReplyBadVersion, Some(S::HelloSent), out) => {
                        let late = now >= deadline.unwrap();
                        let expect = if late { Some(HelloError::Late) } else {
                            match e { Ev::ReplyOk => None, Ev::ReplyReject => Some(HelloError::HelloRejected), _ => Some(HelloError::BadVersion) }
                        };
                        match expect {
                            None => { prop_assert_eq!(out, StepOutcome::Done); prop_assert_eq!(after, Some(S::LoggedIn)); }
                            Some(err) => { prop_assert_eq!(out, StepOutcome::HelloFailed(err)); prop_assert_eq!(after, Some(S::Closing)); }
                        }
                    }
                    (Ev::Advance(_), Some(S::HelloSent), out) => {
                        if now >= deadline.unwrap() {
                            prop_assert_eq!(out, StepOutcome::HelloFailed(HelloError::HelloTimeout));
                            prop_assert_eq!(after, Some(S::Closing));
                        } else {
                            prop_assert_eq!(out, StepOutcome::Done);
                            prop_assert_eq!(after, Some(S::HelloSent));
                        }
                    }
                    (Ev::Advance(_), b, out) => { prop_assert_eq!(out, StepOutcome::Done); prop_assert_eq!(after, b); }
                    (Ev::Hello { min, max }, Some(S::LoggedIn), out) if params.unwrap().role == Role::Target => {
                        let StepOutcome::SendHelloReply(r) = out else { panic!("{out:?}") };
                        prop_assert_eq!(r.reject, !(*min <= ISER_VERSION && ISER_VERSION <= *max));
                        prop_assert_eq!(after, Some(S::LoggedIn));
                    }
                    (Ev::Begin, Some(S::LoggedIn), StepOutcome::TaskBegun(t)) => {
                        prop_assert!(outstanding < params.unwrap().max_tasks);
                        prop_assert_eq!(t.conn_id(), params.unwrap().conn_id);
                        tokens.push(t);
                    }
                    (Ev::Begin, Some(S::LoggedIn), StepOutcome::Refused(_)) => {
                        prop_assert_eq!(outstanding, params.unwrap().max_tasks);
                    }
                    (Ev::End(_), Some(S::LoggedIn | S::Closing), out) => {
                        prop_assert_eq!(out, StepOutcome::Done);
                        prop_assert_eq!(after, before);
                    }
                    (Ev::EndForeign(_), Some(_), StepOutcome::Refused(ConnEvent::EndTask(t))) => {
                        prop_assert_ne!(Some(t.conn_id()), params.map(|p| p.conn_id));
                        tokens.push(t);
                    }
                    (Ev::Close, Some(S::Connected | S::HelloSent | S::LoggedIn), out) => {
                        prop_assert_eq!(out, StepOutcome::Done);
                        prop_assert_eq!(after, Some(S::Closing));
                    }
                    (Ev::Abort, Some(S::Allocated | S::Connected), StepOutcome::Released(r)) => {
                        prop_assert!(after.is_none());
                        returned.push(r);
                    }
                    (Ev::Release, Some(S::Closing), StepOutcome::Released(r)) => {
                        prop_assert_eq!(outstanding, 0);
                        prop_assert!(after.is_none());
                        returned.push(r);
                    }
                    (Ev::Release, Some(S::Closing), StepOutcome::Refused(ConnEvent::Release)) => {
                        prop_assert!(outstanding > 0);
                    }
                    (_, b, StepOutcome::Refused(ev)) => {
                        // Refusals change nothing and give the event back.
                        prop_assert_eq!(after, b);
                        prop_assert_eq!(core::mem::discriminant(&ev), kind);
                        if let ConnEvent::EndTask(t) = ev { tokens.push(t); }
                    }
                    (e, b, out) => prop_assert!(false, "unexpected {:?} in {:?} -> {:?}", e, b, out),
                }

                // Invariants over the whole table.
                prop_assert_eq!(drops.get(), 0, "the core dropped a resource");
                let live = slots.iter().flatten().count() as u32;
                prop_assert_eq!(live + returned.len() as u32, created);
                for c in slots.iter().flatten() {
                    let held = tokens.iter().filter(|t| t.conn_id() == c.conn_id()).count() as u32;
                    prop_assert_eq!(c.outstanding(), held);
                    if matches!(c.stage(), S::Allocated | S::Connected | S::HelloSent) {
                        prop_assert_eq!(c.outstanding(), 0);
                    }
                    prop_assert_eq!(c.poll_timeout().is_some(), c.stage() == S::HelloSent);
                }
            }
            drop(slots);
            drop(returned);
            prop_assert_eq!(drops.get(), created, "every resource dropped exactly once, by us");
        }
    }
}
