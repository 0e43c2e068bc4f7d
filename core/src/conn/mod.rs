//! Connection stages as types (DESIGN §3, §4): `Conn<S, R>` moves
//! Allocated → Connected → \[HelloSent\] → LoggedIn → Closing → released, one consuming method per
//! transition, so an illegal move does not compile. [`AnyConn`] is the run-time form for tables.
//!
//! ```text
//!   Conn<Allocated>::new ──connect──▶ Conn<Connected> ──enable_datamover──┬──▶ Conn<LoggedIn>
//!        │ abort → R                  │ abort → R, close                  │        │ close
//!        ▼                            ▼                                   ▼        ▼
//!                                                            Conn<HelloSent> ──▶ Conn<Closing>
//!                                  (reply ok → LoggedIn; reject/bad/late/timeout → Closing)
//!                                          Conn<Closing>::into_resources → R once drained
//! ```
//!
//! The resources `R` (QP, buffers: whatever the adapter owns) travel with the connection and come
//! back on `abort` or `into_resources`; no transition drops them. Failed transitions hand back
//! the connection (or move it to `Closing`) together with the reason.
//!
//! Login PDUs flow in `Connected` (as iSER control messages on IB/RoCE); the session layer drives
//! login and calls `enable_datamover` after the final Login Response. A target goes straight to
//! `LoggedIn` and answers a Hello there if one ever comes (Linux, FreeBSD and libiscsi initiators
//! never send one); our initiator sends a Hello only when [`ConnParams::send_hello`] is set.

mod any;
mod closing;
mod connected;
mod hello;
mod hello_sent;
mod logged_in;
mod params;
mod stage;

use core::marker::PhantomData;

pub use any::{AnyConn, ConnEvent, StepOutcome};
pub use connected::Enabled;
pub use hello::{answer_hello, check_reply, common_version, HelloError};
pub use logged_in::TooManyTasks;
pub use params::{
    ConnParams, HelloOutcome, Role, DEFAULT_MAX_TASKS, DEFAULT_RDMA_READ_DEPTH, HELLO_TIMEOUT,
    ISER_VERSION,
};
pub use stage::{Allocated, Closing, Connected, HelloSent, LoggedIn, Stage, StageKind};

use crate::time::Instant;
use crate::wire::CmPrivateData;

/// The result of an input that may or may not move a connection on.
#[derive(Debug, PartialEq, Eq)]
#[must_use]
pub enum Step<S, N> {
    /// Nothing changed; here is the connection back.
    Stay(S),
    /// The connection moved on.
    Next(N),
}

/// Proof that one task was begun on a connection in full feature phase; hand it back to
/// `end_task` on the same connection (in `LoggedIn` or `Closing`). Not `Clone`, so a task can end
/// only once and the outstanding count can never underflow.
#[derive(Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[must_use = "a dropped TaskToken keeps its connection from draining"]
pub struct TaskToken {
    conn_id: u32,
}

impl TaskToken {
    /// The connection the task was begun on.
    pub const fn conn_id(&self) -> u32 {
        self.conn_id
    }
}

/// A connection in stage `S`, owning the adapter's resources `R`.
#[derive(Debug)]
pub struct Conn<S: Stage, R = ()> {
    params: ConnParams,
    peer_cm: CmPrivateData,
    hello_deadline: Option<Instant>,
    hello: Option<HelloOutcome>,
    outstanding: u32,
    resources: R,
    stage: PhantomData<S>,
}

impl<S: Stage, R> Conn<S, R> {
    /// Move to stage `T`, keeping everything else.
    fn into_stage<T: Stage>(self) -> Conn<T, R> {
        trace!("conn {}: {} -> {}", self.params.conn_id, S::STAGE, T::STAGE);
        Conn {
            params: self.params,
            peer_cm: self.peer_cm,
            hello_deadline: self.hello_deadline,
            hello: self.hello,
            outstanding: self.outstanding,
            resources: self.resources,
            stage: PhantomData,
        }
    }

    /// This connection's stage as a value.
    pub const fn stage(&self) -> StageKind {
        S::STAGE
    }

    /// The parameters given at creation.
    pub const fn params(&self) -> &ConnParams {
        &self.params
    }

    /// The adapter-assigned connection id.
    pub const fn conn_id(&self) -> u32 {
        self.params.conn_id
    }

    /// Our end.
    pub const fn role(&self) -> Role {
        self.params.role
    }

    /// The peer's CM private data flags (all clear before `connect`).
    pub const fn peer_cm_flags(&self) -> CmPrivateData {
        self.peer_cm
    }

    /// What the Hello exchange settled, if one happened (initiator with `send_hello`).
    pub const fn hello_outcome(&self) -> Option<HelloOutcome> {
        self.hello
    }

    /// Tasks begun and not yet ended.
    pub const fn outstanding(&self) -> u32 {
        self.outstanding
    }

    /// The adapter's resources.
    pub const fn resources(&self) -> &R {
        &self.resources
    }

    /// The adapter's resources, mutably.
    pub fn resources_mut(&mut self) -> &mut R {
        &mut self.resources
    }

    /// Shared by `LoggedIn` and `Closing`: retire a task, or hand the token back if it belongs to
    /// another connection.
    fn retire(&mut self, token: TaskToken) -> Result<(), TaskToken> {
        if token.conn_id != self.params.conn_id {
            return Err(token);
        }
        match self.outstanding.checked_sub(1) {
            Some(n) => {
                self.outstanding = n;
                Ok(())
            }
            // Unreachable: every token was counted when it was made.
            None => Err(token),
        }
    }
}

impl<R> Conn<Allocated, R> {
    /// A connection holding `resources`, channel not yet up (`it_ini_conn_create`, or an
    /// accepted inbound request on the target).
    pub const fn new(params: ConnParams, resources: R) -> Self {
        Conn {
            params,
            peer_cm: CmPrivateData {
                zbva_not_supported: false,
                send_inv_not_supported: false,
            },
            hello_deadline: None,
            hello: None,
            outstanding: 0,
            resources,
            stage: PhantomData,
        }
    }

    /// The channel is established (RDMA CM ESTABLISHED / TCP connected); record the peer's CM
    /// private data flags. Login may begin.
    pub fn connect(mut self, peer_cm: CmPrivateData) -> Conn<Connected, R> {
        self.peer_cm = peer_cm;
        self.into_stage()
    }

    /// Give up before the channel is up; the resources come back (`it_ini_conn_destroy`).
    pub fn abort(self) -> R {
        self.resources
    }
}
