//! Connection parameters as plain values: role, our iSER versions and RDMA Read depths (RFC 7145
//! §9.3, §9.4), the CM private data we advertise (DESIGN §4), and what the Hello exchange
//! settled. Hello, HelloReply and CM private data themselves are the `wire` types
//! [`HelloRepr`], [`HelloReplyRepr`](crate::wire::HelloReplyRepr) and [`CmPrivateData`].

use crate::time::Duration;
use crate::wire::{CmPrivateData, HelloRepr};

pub use crate::wire::ISER_VERSION;

/// How long an initiator waits for the HelloReply after sending a Hello (0.5 s, as illumos'
/// `it_ini_enable_datamover`).
pub const HELLO_TIMEOUT: Duration = Duration::from_millis(500);

/// Our default iSER-IRD / iSER-ORD: RDMA Reads we accept / issue concurrently on one connection.
pub const DEFAULT_RDMA_READ_DEPTH: u16 = 16;

/// Our default limit on tasks outstanding on one connection.
pub const DEFAULT_MAX_TASKS: u32 = 128;

/// Which end of the connection we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Role {
    /// iSCSI initiator: sends the Login Request and (optionally) the Hello.
    Initiator,
    /// iSCSI target: answers the login and any Hello.
    Target,
}

/// What a successful Hello exchange settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HelloOutcome {
    /// iSER version in use (HelloReply CurVer).
    pub version: u8,
    /// The target's iSER-ORD.
    pub peer_ord: u16,
}

/// Everything a connection knows about itself from creation on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnParams {
    /// Adapter-assigned id, unique among live connections (task tokens carry it).
    pub conn_id: u32,
    /// Our end.
    pub role: Role,
    /// Initiator only: send a Hello after login and wait for the HelloReply. Linux, FreeBSD and
    /// libiscsi initiators never do, and LIO/tgt ignore it, so keep it off unless the target
    /// needs it (e.g. iWARP). Ignored for targets.
    pub send_hello: bool,
    /// Highest iSER version we support.
    pub max_version: u8,
    /// Lowest iSER version we support.
    pub min_version: u8,
    /// Our iSER-IRD: RDMA Reads we accept concurrently (initiator's Hello).
    pub ird: u16,
    /// Our iSER-ORD: RDMA Reads we issue concurrently (target's HelloReply, capped by the
    /// initiator's IRD).
    pub ord: u16,
    /// CM private data flags we advertise.
    pub local_cm: CmPrivateData,
    /// Most tasks [`Conn::begin_task`](super::Conn::begin_task) lets be outstanding.
    pub max_tasks: u32,
}

impl ConnParams {
    /// Initiator defaults: iSER version 1, no Hello (as real initiators), ZBVA not supported
    /// (as every real initiator advertises).
    pub const fn initiator(conn_id: u32) -> Self {
        ConnParams {
            conn_id,
            role: Role::Initiator,
            send_hello: false,
            max_version: ISER_VERSION,
            min_version: ISER_VERSION,
            ird: DEFAULT_RDMA_READ_DEPTH,
            ord: DEFAULT_RDMA_READ_DEPTH,
            local_cm: CmPrivateData {
                zbva_not_supported: true,
                send_inv_not_supported: false,
            },
            max_tasks: DEFAULT_MAX_TASKS,
        }
    }

    /// Target defaults: iSER version 1.
    pub const fn target(conn_id: u32) -> Self {
        ConnParams {
            role: Role::Target,
            local_cm: CmPrivateData {
                zbva_not_supported: false,
                send_inv_not_supported: false,
            },
            ..Self::initiator(conn_id)
        }
    }

    /// The Hello we send as initiator (RFC 7145 §9.3).
    pub const fn local_hello(&self) -> HelloRepr {
        HelloRepr {
            max_ver: self.max_version,
            min_ver: self.min_version,
            iser_ird: self.ird,
        }
    }
}
