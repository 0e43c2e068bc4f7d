//! The iSER datamover (RFC 7145): control PDUs behind the 28-byte iSER header in Sends, SCSI
//! read data by RDMA Write, write data by RDMA Read, Hello/HelloReply.

mod copy;
mod credit;
mod initiator;
mod posted;
mod stags;
mod target;

pub use initiator::{IserInitiator, IserSubmitError, Registrar};
pub use target::{IserConfig, IserError, IserTarget, RDMA_TIMEOUT};
