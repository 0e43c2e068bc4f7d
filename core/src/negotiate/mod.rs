//! Login key negotiation: RFC 7143 §6 (text negotiation) and §13 (keys), RFC 7145 §6 (iSER keys).
//!
//! - [`keys`]: the one table of every key ([`KEYS`]): value kind, default, result function,
//!   phase, scope, leading-only, senders.
//! - [`Negotiator`]: negotiates one login for either [`Role`], from a [`LocalConfig`].
//! - [`TransportPolicy`]: a transport's rules on top; [`IserPolicy`] for iSER, [`TcpPolicy`]
//!   for plain iSCSI/TCP.
//! - [`Negotiated`]: the outcome, RFC defaults for keys never exchanged.
//! - [`NegotiationError`]: why a login fails, with its Login Status.

mod config;
mod error;
mod iser;
pub mod keys;
mod negotiated;
mod negotiator;
mod policy;
pub mod value;

#[cfg(test)]
mod tests;

pub use config::LocalConfig;
pub use error::{status, LocalFault, NegotiationError, ProtocolFault};
pub use iser::IserPolicy;
pub use keys::{Key, KeyDef, Role, KEYS};
pub use negotiated::Negotiated;
pub use negotiator::{LoginStage, Negotiator};
pub use policy::{AnyPolicy, PolicyAnswer, TcpPolicy, TransportPolicy, Verdict};
pub use value::{AuthMethod, Digest, SessionType, TaskReporting};

use crate::wire::text::TextWriter;

/// Fuzz entry point: runs a target [`Negotiator`] over arbitrary bytes. Never panics.
///
/// The first byte picks the transport (bit 0: iSER policy) and the starting stage (bit 1:
/// security negotiation); the rest is split at `0xFF` bytes into the texts of successive Login
/// Requests, each fed to [`Negotiator::receive`] and answered with [`Negotiator::propose`], then
/// [`Negotiator::finish`] runs.
pub fn fuzz_target_negotiation(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let config = LocalConfig::target();
    if flags & 1 == 1 {
        if let Ok(n) = Negotiator::new(Role::Target, config, IserPolicy::default()) {
            fuzz_run(n, flags, rest);
        }
    } else if let Ok(n) = Negotiator::new(Role::Target, config, TcpPolicy) {
        fuzz_run(n, flags, rest);
    }
}

fn fuzz_run<P: TransportPolicy>(mut n: Negotiator<'_, P>, flags: u8, data: &[u8]) {
    let mut stage = if flags & 2 == 2 {
        LoginStage::Security
    } else {
        LoginStage::Operational
    };
    let mut buf = [0u8; 8192];
    for text in data.split(|&b| b == 0xff) {
        let mut out = TextWriter::new(&mut buf);
        let ok = n
            .receive(stage, text, &mut out, |_, _, _| Ok(()))
            .and_then(|()| n.propose(stage, &mut out));
        if ok.is_err() {
            return;
        }
        let _ = n.transit_allowed();
        stage = LoginStage::Operational;
    }
    let _ = n.finish();
}
