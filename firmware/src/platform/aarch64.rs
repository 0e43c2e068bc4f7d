//! QEMU `virt`, Cortex-A53, EL1, MMU off: `_start` enables FP/SIMD (rustc emits NEON), sets the
//! stack, clears .bss and calls into Rust. The clock is the generic timer's virtual counter.

/// Platform name for the log.
pub const NAME: &str = "aarch64 QEMU virt";
/// Unit of [`now_us`] here.
pub const CLOCK_UNIT: &str = "us";

core::arch::global_asm!(
    ".section .text.boot, \"ax\"",
    ".global _start",
    "_start:",
    // Secondary cores (if any) park.
    "    mrs x0, mpidr_el1",
    "    and x0, x0, #0xff",
    "    cbnz x0, 2f",
    // CPACR_EL1.FPEN = 0b11: no trap on FP/SIMD at EL1/EL0.
    "    mov x0, #(3 << 20)",
    "    msr cpacr_el1, x0",
    "    isb",
    "    ldr x0, =__stack_top",
    "    mov sp, x0",
    "    ldr x0, =__bss_start",
    "    ldr x1, =__bss_end",
    "1:  cmp x0, x1",
    "    b.hs 3f",
    "    str xzr, [x0], #8",
    "    b 1b",
    "3:  bl fw_entry",
    "2:  wfe",
    "    b 2b",
);

#[no_mangle]
extern "C" fn fw_entry() -> ! {
    crate::start()
}

/// Microseconds since boot (CNTVCT_EL0 / CNTFRQ_EL0).
pub fn now_us() -> u64 {
    let (cnt, frq): (u64, u64);
    // SAFETY: reading the generic timer's counter and frequency has no side effects.
    unsafe {
        core::arch::asm!("mrs {0}, cntvct_el0", out(reg) cnt, options(nomem, nostack));
        core::arch::asm!("mrs {0}, cntfrq_el0", out(reg) frq, options(nomem, nostack));
    }
    let us = u128::from(cnt)
        .saturating_mul(1_000_000)
        .checked_div(u128::from(frq))
        .unwrap_or(0);
    u64::try_from(us).unwrap_or(u64::MAX)
}
