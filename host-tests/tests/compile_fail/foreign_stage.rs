//! `Stage` is sealed: another crate cannot invent a stage.
use iser_core::conn::{Stage, StageKind};

struct Sneaky;

impl Stage for Sneaky {
    const STAGE: StageKind = StageKind::LoggedIn;
}

fn main() {}
