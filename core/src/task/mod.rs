//! Tasks: RFC 1982 serial numbers for CmdSN/StatSN/DataSN (RFC 7143 §4.2.2), initiator task tags
//! (RFC 7143 §11.2.1.8) and a fixed-capacity task table keyed by ITT.

pub mod itt;
pub mod serial;
pub mod table;

pub use itt::{Itt, IttAllocator, IttError};
pub use serial::{in_window, window_len, SerialNumber};
pub use table::{TaskError, TaskSlot, TaskTable};
