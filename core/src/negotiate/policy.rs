//! The hook a transport uses to own some keys before the iSCSI layer sees them (the seed's
//! `it_negotiate_key_values` / `it_declare_key_values` / `it_notice_key_values`), RFC 7145 §6.

use super::config::LocalConfig;
use super::error::ProtocolFault;
use super::keys::{KeyDef, Role};
use super::negotiated::Negotiated;

/// An answer a transport policy gives in place of the iSCSI layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PolicyAnswer {
    /// A number.
    Num(u32),
    /// A word (`Yes`, `No`, `None`, ...).
    Word(&'static str),
}

/// What a policy does with one key the peer offered or declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Not the transport's business: the iSCSI layer answers.
    PassThrough,
    /// The transport answers; the outcome is this value.
    Answer {
        /// The answer (and outcome).
        value: PolicyAnswer,
        /// The peer must see this answer before the stage may end: the transit bit stays clear
        /// for this step.
        hold_transit: bool,
    },
}

/// A transport's rules on top of the RFC 7143 key table.
///
/// Order within a step: [`begin_step`](Self::begin_step) when the peer's text arrives, then
/// [`on_offer`](Self::on_offer) for each key the peer offers or declares (answers to our own offers
/// are not shown), [`transit_allowed`](Self::transit_allowed) before the transit bit is set, and
/// [`check`](Self::check) once on the outcome. [`configure`](Self::configure) runs once, first.
pub trait TransportPolicy {
    /// Adjusts what we offer (it_declare_key_values).
    fn configure(&self, _config: &mut LocalConfig<'_>) {}

    /// A new step begins.
    fn begin_step(&mut self) {}

    /// The peer offered or declared `key=value` (it_negotiate_key_values). An error is the
    /// peer's fault.
    fn on_offer(
        &mut self,
        _role: Role,
        _key: &KeyDef,
        _value: &str,
    ) -> Result<Verdict, ProtocolFault> {
        Ok(Verdict::PassThrough)
    }

    /// Whether the transport lets this step end the stage.
    fn transit_allowed(&self) -> bool {
        true
    }

    /// Vets the outcome (it_notice_key_values). An error is the peer's fault.
    fn check(&self, _negotiated: &Negotiated) -> Result<(), ProtocolFault> {
        Ok(())
    }
}

/// iSCSI over TCP: the key table alone decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TcpPolicy;

impl TransportPolicy for TcpPolicy {}

/// Either transport's policy, chosen per connection (a portal serves both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AnyPolicy {
    /// iSCSI/TCP.
    Tcp(TcpPolicy),
    /// iSER.
    Iser(super::IserPolicy),
}

impl TransportPolicy for AnyPolicy {
    fn configure(&self, config: &mut LocalConfig<'_>) {
        match self {
            AnyPolicy::Tcp(p) => p.configure(config),
            AnyPolicy::Iser(p) => p.configure(config),
        }
    }

    fn begin_step(&mut self) {
        match self {
            AnyPolicy::Tcp(p) => p.begin_step(),
            AnyPolicy::Iser(p) => p.begin_step(),
        }
    }

    fn on_offer(
        &mut self,
        role: Role,
        key: &KeyDef,
        value: &str,
    ) -> Result<Verdict, ProtocolFault> {
        match self {
            AnyPolicy::Tcp(p) => p.on_offer(role, key, value),
            AnyPolicy::Iser(p) => p.on_offer(role, key, value),
        }
    }

    fn transit_allowed(&self) -> bool {
        match self {
            AnyPolicy::Tcp(p) => p.transit_allowed(),
            AnyPolicy::Iser(p) => p.transit_allowed(),
        }
    }

    fn check(&self, negotiated: &Negotiated) -> Result<(), ProtocolFault> {
        match self {
            AnyPolicy::Tcp(p) => p.check(negotiated),
            AnyPolicy::Iser(p) => p.check(negotiated),
        }
    }
}
