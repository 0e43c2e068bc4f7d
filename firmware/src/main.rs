//! The firmware image: entry code per platform (QEMU `virt` aarch64, QEMU `mps2-an386`
//! Cortex-M4F), the defmt logger over semihosting, the static resources, and the exit code
//! through semihosting `SYS_EXIT` (0 on success).

#![no_std]
#![no_main]

mod logger;
mod platform;

use iser_firmware::backend::{target_address, TARGET_ADDRESS_LEN};
use iser_firmware::config::{FwConfig, PARAMS};
use iser_firmware::selftest::{self, Backend, Initiator, Statics, Target};
use static_cell::{ConstStaticCell, StaticCell};

/// The configuration blob linked into the image (`config/default.postcard`, or `FW_CONFIG`).
static CONFIG_BLOB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/config.postcard"));

// Resources: zero-initialised memory in .bss, engines constructed in place at boot.
static LU: ConstStaticCell<[u8; selftest::LU_BYTES]> =
    ConstStaticCell::new([0; selftest::LU_BYTES]);
static INITIATOR_REGION: ConstStaticCell<[u8; selftest::INITIATOR_REGION]> =
    ConstStaticCell::new([0; selftest::INITIATOR_REGION]);
static TARGET_REGION: ConstStaticCell<[u8; selftest::TARGET_REGION]> =
    ConstStaticCell::new([0; selftest::TARGET_REGION]);
static TARGET: StaticCell<Target> = StaticCell::new();
static INITIATOR: StaticCell<Initiator> = StaticCell::new();
static BACKEND: StaticCell<Backend> = StaticCell::new();

/// Exit codes: 0 pass, 1 self-test failure, 2 bad configuration, 3 resources taken twice.
fn fw_main() -> i32 {
    logger::init();
    defmt::info!(
        "iser-firmware {=str} on {=str}",
        env!("CARGO_PKG_VERSION"),
        platform::NAME
    );
    let mut text = logger::Text::stderr();
    let config = match FwConfig::from_blob(CONFIG_BLOB, &PARAMS)
        .and_then(|c| c.validate(&selftest::CAPACITY).map(|()| c))
    {
        Ok(c) => c,
        Err(e) => {
            defmt::error!(
                "configuration blob ({=usize} bytes) refused: {}",
                CONFIG_BLOB.len(),
                e
            );
            text.str("FIRMWARE-RESULT: FAIL configuration blob (")
                .num(CONFIG_BLOB.len() as u64)
                .str(" bytes) refused: ")
                .str(e.reason())
                .str("\n");
            return 2;
        }
    };
    let mut address = [0u8; TARGET_ADDRESS_LEN];
    let m = &config.limits;
    text.str("FIRMWARE-CONFIG:")
        .kv("blob", CONFIG_BLOB.len() as u64)
        .str("B")
        .kv("targets", config.targets.len() as u64)
        .kv("luns", config.lu_count() as u64)
        .str(" portal=")
        .str(target_address(&config.portal(), &mut address))
        .kv("portals", config.portals.len() as u64)
        .kv("queue_depth", m.queue_depth.into())
        .kv(
            "MaxRecvDataSegmentLength",
            m.max_recv_data_segment_length.into(),
        )
        .kv("MaxBurstLength", m.max_burst_length.into())
        .kv("FirstBurstLength", m.first_burst_length.into())
        .str(" ImmediateData=")
        .flag(m.immediate_data)
        .str(" InitialR2T=")
        .flag(m.initial_r2t)
        .str("\n");
    for t in config.targets.iter() {
        for l in t.luns.iter() {
            text.str("FIRMWARE-LUN: target=")
                .str(t.name)
                .str(" alias=")
                .str(t.alias.unwrap_or("-"))
                .kv("lun", l.id.into())
                .kv("block_size", l.block_size.into())
                .kv("blocks", l.blocks)
                .str(" thin=")
                .flag(l.thin)
                .str("\n");
        }
    }
    let f = selftest::Footprint::measure();
    text.str("FIRMWARE-FOOTPRINT:")
        .kv("target_engine", f.target_engine as u64)
        .kv("initiator_engine", f.initiator_engine as u64)
        .kv("nic_endpoint", f.nic_endpoint as u64)
        .kv("target_connection", f.target_connection as u64)
        .kv("target_per_task", f.target_per_task as u64)
        .kv("initiator_per_task", f.initiator_per_task as u64)
        .kv("target_per_buffer", f.target_per_buffer as u64)
        .kv("backend", f.backend as u64)
        .kv("backend_per_lu", f.backend_per_lu as u64)
        .kv("lu_memory", selftest::LU_BYTES as u64)
        .str("\n");
    let (Some(lu), Some(ini), Some(tgt)) = (
        LU.try_take(),
        INITIATOR_REGION.try_take(),
        TARGET_REGION.try_take(),
    ) else {
        text.str("FIRMWARE-RESULT: FAIL static resources taken twice\n");
        return 3;
    };
    let statics = Statics {
        lu,
        initiator_region: ini,
        target_region: tgt,
        target: &TARGET,
        initiator: &INITIATOR,
        backend: &BACKEND,
    };
    let t0 = platform::now_us();
    match selftest::run(&config, statics, platform::now_us) {
        Ok(s) => {
            let us = platform::now_us().saturating_sub(t0);
            let (i, t) = (&s.initiator_nic, &s.target_nic);
            text.str("FIRMWARE-RESULT: PASS ")
                .str(platform::NAME)
                .str(": login RDMAExtensions=Yes hello=")
                .flag(s.hello)
                .kv("logins", s.logins.into())
                .kv("luns", s.luns.into())
                .kv("commands", s.commands.into())
                .kv("bytes_verified", s.bytes_verified)
                .kv("rdma_reads", t.rdma_reads.into())
                .kv("rdma_writes", t.rdma_writes.into())
                .kv("sends", i.sends.into())
                .str("+")
                .num(t.sends.into())
                .kv("ring_full", i.ring_full.saturating_add(t.ring_full).into())
                .kv("cq_stalls", i.cq_stalls.saturating_add(t.cq_stalls).into())
                .kv("elapsed", us)
                .str(platform::CLOCK_UNIT)
                .str("\n");
            clock_check(&mut text);
            0
        }
        Err(f) => {
            defmt::error!("self-test failed: {}", f);
            text.str("FIRMWARE-RESULT: FAIL ")
                .str(platform::NAME)
                .str(": ")
                .str(f.name())
                .str("\n");
            1
        }
    }
}

/// Host seconds [`clock_check`] measures over.
const CLOCK_CHECK_S: u64 = 1;

/// Measures the image's clock (the one the engines' timeouts run on) against the host's wall
/// clock (semihosting SYS_TIME, whole seconds): from one host second boundary to the one
/// [`CLOCK_CHECK_S`] later, so a clock that does not run on real time shows. (SYS_CLOCK is the
/// QEMU process's CPU time, not wall time.)
fn clock_check(text: &mut logger::Text) {
    let host = || semihosting::sys::arm_compat::sys_time().map_or(0, |s| s as u64);
    let boundary = |after: u64| loop {
        let now = host();
        if now > after || now == 0 {
            return (now, platform::now_us());
        }
    };
    let (s0, _) = boundary(host());
    let (_, t0) = boundary(s0);
    let (_, t1) = boundary(s0.saturating_add(CLOCK_CHECK_S));
    let image_ms = t1.saturating_sub(t0) / 1000;
    text.str("FIRMWARE-CLOCK:")
        .kv("host_s", CLOCK_CHECK_S)
        .kv("image_ms", image_ms)
        .str("\n");
}

/// Entry from the platform code: run, then exit through semihosting.
fn start() -> ! {
    let code = fw_main();
    logger::flush();
    semihosting::process::exit(code)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // No `core::fmt` in the image: the message when it is a plain string, and the location.
    let mut err = logger::Text::stderr();
    err.str("FIRMWARE-RESULT: FAIL panic: ")
        .str(info.message().as_str().unwrap_or("(formatted message)"));
    if let Some(l) = info.location() {
        err.str(" at ").str(l.file()).str(":").num(l.line().into());
    }
    err.str("\n");
    semihosting::process::exit(101)
}
