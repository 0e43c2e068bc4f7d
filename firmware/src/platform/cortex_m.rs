//! QEMU `mps2-an386` (Cortex-M4F): cortex-m-rt's reset handler sets the stack, initialises
//! .data/.bss and enables the FPU (eabihf); there is no running clock, so time counts calls.

use core::sync::atomic::{AtomicU32, Ordering};

/// Platform name for the log.
pub const NAME: &str = "thumbv7em QEMU mps2-an386";
/// Unit of [`now_us`] here: clock reads, not time.
pub const CLOCK_UNIT: &str = "reads";

// The critical-section implementation static_cell uses.
use cortex_m as _;

#[cortex_m_rt::entry]
fn main() -> ! {
    crate::start()
}

static TICKS: AtomicU32 = AtomicU32::new(0);

/// A monotonic stand-in for microseconds (each call advances it by one).
pub fn now_us() -> u64 {
    u64::from(TICKS.fetch_add(1, Ordering::Relaxed))
}
