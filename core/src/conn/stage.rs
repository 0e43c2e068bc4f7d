//! Connection stage markers (DESIGN §4 "Stage order"): sealed zero-sized types used as the `S` of
//! [`Conn<S, R>`](super::Conn), and [`StageKind`] naming them at run time.

use core::fmt;

/// The stage a connection is in, as a value (for [`AnyConn`](super::AnyConn) and logs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StageKind {
    /// Resources held, no channel yet.
    Allocated,
    /// Channel established; login PDUs flow here.
    Connected,
    /// Initiator sent an iSER Hello and waits (at most [`HELLO_TIMEOUT`](super::HELLO_TIMEOUT))
    /// for the HelloReply.
    HelloSent,
    /// Full feature phase.
    LoggedIn,
    /// Closing the channel; waiting for outstanding tasks to drain.
    Closing,
}

impl fmt::Display for StageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StageKind::Allocated => "Allocated",
            StageKind::Connected => "Connected",
            StageKind::HelloSent => "HelloSent",
            StageKind::LoggedIn => "LoggedIn",
            StageKind::Closing => "Closing",
        })
    }
}

mod sealed {
    /// Only this crate's markers are stages.
    pub trait Sealed {}
}

/// A connection stage. Sealed: only [`Allocated`], [`Connected`], [`HelloSent`], [`LoggedIn`]
/// and [`Closing`] implement it, so no other crate can invent a stage (or a transition).
pub trait Stage: sealed::Sealed {
    /// This stage as a value.
    const STAGE: StageKind;
}

macro_rules! stages {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl Stage for $name {
            const STAGE: StageKind = StageKind::$name;
        }
    )*};
}

stages! {
    /// Resources (QP, buffers) allocated, channel not yet up (`it_ini_conn_create`).
    Allocated,
    /// Channel established (`it_*_conn_connect`); login PDUs flow as iSER control messages.
    Connected,
    /// Initiator sent a Hello (RFC 7145 §9.3) after login and waits for the HelloReply.
    HelloSent,
    /// Full feature phase: SCSI tasks may be started (`it_*_enable_datamover` done).
    LoggedIn,
    /// Disconnecting (`it_*_conn_disconnect`): no new tasks, outstanding ones drain.
    Closing,
}
