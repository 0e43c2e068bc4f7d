//! Runs 4 KiB SCSI reads and writes through the iSER target engine over the in-memory RC fabric
//! and prints I/Os per second. Under `valgrind --tool=callgrind` (see `bench/iser-instructions.sh`)
//! it gives the core's instructions per I/O.
//!
//! Usage: `iser_fabric_bench [IOS]` (default 20000; half writes, half reads).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use host_tests::iser_script::{pattern, Setup};
use iser_core::wire::CmPrivateData;

fn main() {
    let ios: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut s = Setup::new(CmPrivateData {
        zbva_not_supported: true,
        send_inv_not_supported: false,
    });
    s.login();
    s.clear_unit_attention();
    let data = pattern(4096, 1);
    let start = std::time::Instant::now();
    for i in 0..ios / 2 {
        let lba = (i * 8) % 60_000;
        s.write(lba, &data, 0);
        let (back, _) = s.read(lba, 4096);
        assert!(back[..16] == data[..16]);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "ios {ios} seconds {secs:.3} ios_per_second {:.0}",
        f64::from(ios) / secs
    );
    s.logout();
}
