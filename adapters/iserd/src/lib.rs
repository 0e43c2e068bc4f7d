//! `iserd`: the iSCSI target daemon around the no_std `iser-core` engine. Configuration
//! ([`config`], [`cli`]), logical unit storage ([`storage`]), and the server that accepts
//! connections and drives one engine per connection on its own thread; [`firmware`] writes
//! the firmware's configuration blob.

pub mod acl;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod firmware;
pub mod logger;
pub mod server;
pub mod size;
pub mod storage;
