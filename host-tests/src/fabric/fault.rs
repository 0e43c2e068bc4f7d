//! Faults the in-memory fabric can inject: a dropped connection, a work request completing in
//! error, send-queue completions held back to reorder them against the peer's receives.

use iser_core::dm::WcStatus;

use super::EndpointId;

/// A fault for [`super::Fabric::inject`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// The connection of `endpoint` breaks: both QPs go to the error state, every posted work
    /// request flushes, both endpoints get `Disconnected`.
    DropConnection { endpoint: EndpointId },
    /// The next work request posted on `endpoint` (a receive included) moves no data, completes
    /// with `kind` (`Success` counts as `Other`) and the QP pair goes to the error state.
    FailNext {
        endpoint: EndpointId,
        kind: WcStatus,
    },
    /// Hold back the completions of the next `ops` send-queue work requests (Send, RDMA Write,
    /// RDMA Read) posted on `endpoint` until [`super::Fabric::release`]. The operations still
    /// execute at once (the peer sees its `Recv`); later send-queue completions of the endpoint
    /// wait behind the held ones, keeping send-queue order.
    Delay { endpoint: EndpointId, ops: usize },
}
