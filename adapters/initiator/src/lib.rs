//! `iser`, an iSCSI initiator for the command line, on the core's sans-IO
//! [`iser_core::session::initiator::InitiatorConn`] — over TCP, or over iSER through the core's
//! `IserInitiator` and the verbs adapter: URLs, SCSI helpers, a blocking session driver (one
//! thread per session), and the subcommands.

pub mod bench;
pub mod commands;
pub mod histogram;
pub mod link;
pub mod scsi;
pub mod session;
pub mod url;
pub mod util;
