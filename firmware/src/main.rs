//! The firmware image: entry code per platform (QEMU `virt` aarch64, QEMU `mps2-an386`
//! Cortex-M4F), the defmt logger over semihosting, the static resources, and the exit code
//! through semihosting `SYS_EXIT` (0 on success).

#![no_std]
#![no_main]

mod logger;
mod platform;

use core::fmt::Write as _;

/// Runs the image and returns the process exit code.
fn fw_main() -> i32 {
    logger::init();
    defmt::info!("iser-firmware {=str} booting on {=str}", env!("CARGO_PKG_VERSION"), platform::NAME);
    let code = 0;
    let mut err = logger::Text::stderr();
    let _ = writeln!(err, "FIRMWARE-RESULT: PASS (boot only)");
    code
}

/// Entry from the platform code: run, then exit through semihosting.
fn start() -> ! {
    let code = fw_main();
    logger::flush();
    semihosting::process::exit(code)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut err = logger::Text::stderr();
    let _ = writeln!(err, "FIRMWARE-RESULT: FAIL panic: {info}");
    semihosting::process::exit(101)
}
