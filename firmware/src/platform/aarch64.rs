//! QEMU `virt`, Cortex-A53, EL1: `_start` enables FP/SIMD (rustc emits NEON), sets the stack,
//! clears .bss, turns the MMU and caches on over an identity map (so RAM is Normal memory and
//! unaligned loads and stores are allowed: the image is built without `strict-align`, which
//! makes its byte-field parsing much shorter) and calls into Rust. The clock is the generic
//! timer's virtual counter.

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
    // Identity map, one level-1 table of 1 GiB blocks (4 KiB granule, 39-bit VA: T0SZ = 25):
    // 0..1 GiB (flash, devices) Device-nGnRnE, never executed; 1..2 GiB (RAM) Normal
    // write-back, inner shareable. Both with AF set, EL1 read/write.
    "3:  adrp x0, fw_l1",
    "    ldr x1, =0x0060000000000401",
    "    str x1, [x0]",
    "    ldr x1, =0x0000000040000705",
    "    str x1, [x0, #8]",
    "    msr ttbr0_el1, x0",
    // MAIR_EL1: attribute 0 = Device-nGnRnE (0x00), attribute 1 = Normal WB RW-allocate (0xff).
    "    mov x1, #0xff00",
    "    msr mair_el1, x1",
    // TCR_EL1: T0SZ 25, IRGN0/ORGN0 write-back, SH0 inner shareable, TG0 4 KiB, EPD1 (no
    // TTBR1 walks), IPS 32 bits.
    "    ldr x1, =0x803519",
    "    msr tcr_el1, x1",
    "    dsb sy",
    "    tlbi vmalle1",
    "    dsb sy",
    "    isb",
    // SCTLR_EL1: M (MMU), C (data cache), I (instruction cache) on; A (alignment check) off.
    "    mrs x1, sctlr_el1",
    "    orr x1, x1, #(1 << 0)",
    "    orr x1, x1, #(1 << 2)",
    "    orr x1, x1, #(1 << 12)",
    "    bic x1, x1, #(1 << 1)",
    "    msr sctlr_el1, x1",
    "    isb",
    "    bl fw_entry",
    "2:  wfe",
    "    b 2b",
    // The level-1 translation table (cleared with .bss, filled above).
    ".section .bss.fw_l1, \"aw\", %nobits",
    ".balign 4096",
    "fw_l1:",
    "    .space 4096",
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
    // Whole seconds and the remainder apart, in u64: exact while CNTFRQ < 1.8e13 Hz, and no
    // u128 division (compiler-builtins' `u128_div_rem`, 780 bytes) in the image.
    let Some(secs) = cnt.checked_div(frq) else {
        return 0;
    };
    let rem = cnt.checked_rem(frq).unwrap_or(0);
    let frac = rem.saturating_mul(1_000_000).checked_div(frq).unwrap_or(0);
    secs.saturating_mul(1_000_000).saturating_add(frac)
}
