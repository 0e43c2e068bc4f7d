//! Entry code and clock per platform.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use aarch64::{now_us, CLOCK_UNIT, NAME};

#[cfg(target_arch = "arm")]
mod cortex_m;
#[cfg(target_arch = "arm")]
pub use cortex_m::{now_us, CLOCK_UNIT, NAME};
