//! QEMU `mps2-an386` (Cortex-M4F): cortex-m-rt's reset handler sets the stack, initialises
//! .data/.bss and enables the FPU (eabihf). The clock is the CMSDK APB timer 0 (ARM DDI 0479C
//! §4.3) at 0x4000_0000, a 32-bit down-counter on the 25 MHz peripheral clock, free-running
//! from 0xFFFF_FFFF; wraps (every 171.8 s) are counted when the clock is read, so it must be
//! read at least that often (the self-test's loop reads it every round).

use core::sync::atomic::{AtomicU32, Ordering};

/// Platform name for the log.
pub const NAME: &str = "thumbv7em QEMU mps2-an386";
/// Unit of [`now_us`] here.
pub const CLOCK_UNIT: &str = "us";

// The critical-section implementation static_cell uses.
use cortex_m as _;

/// CMSDK APB timer 0 registers.
const TIMER0_CTRL: *mut u32 = 0x4000_0000 as *mut u32;
const TIMER0_VALUE: *mut u32 = 0x4000_0004 as *mut u32;
const TIMER0_RELOAD: *mut u32 = 0x4000_0008 as *mut u32;
/// The timer's clock (the board's PCLK).
const PCLK_HZ: u64 = 25_000_000;

#[cortex_m_rt::entry]
fn main() -> ! {
    // SAFETY: the timer's registers, per the board's memory map; nothing else uses timer 0.
    unsafe {
        TIMER0_CTRL.write_volatile(0);
        TIMER0_RELOAD.write_volatile(u32::MAX);
        TIMER0_VALUE.write_volatile(u32::MAX);
        TIMER0_CTRL.write_volatile(1); // enable, no interrupt, internal clock
    }
    crate::start()
}

/// Ticks elapsed (counting up) at the last read, and the wraps seen.
static LAST: AtomicU32 = AtomicU32::new(0);
static WRAPS: AtomicU32 = AtomicU32::new(0);

/// Microseconds since boot.
pub fn now_us() -> u64 {
    // SAFETY: reading the timer's counter has no side effects.
    let elapsed = !unsafe { TIMER0_VALUE.read_volatile() };
    // Single-threaded and no interrupts: load and store cannot interleave with another read.
    if elapsed < LAST.swap(elapsed, Ordering::Relaxed) {
        WRAPS.fetch_add(1, Ordering::Relaxed);
    }
    let ticks = (u64::from(WRAPS.load(Ordering::Relaxed)) << 32) | u64::from(elapsed);
    ticks / (PCLK_HZ / 1_000_000)
}
