//! The firmware image: entry code per platform (QEMU `virt` aarch64, QEMU `mps2-an386`
//! Cortex-M4F), the defmt logger over semihosting, the static resources, and the exit code
//! through semihosting `SYS_EXIT` (0 on success).

#![no_std]
#![no_main]

mod logger;
mod platform;

use core::fmt::Write as _;

use iser_firmware::backend::FwTarget;
use iser_firmware::backend::{target_address, TARGET_ADDRESS_LEN};
use iser_firmware::config::{FwConfig, PARAMS};
use iser_firmware::selftest::{self, Initiator, Statics, Target};
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
static BACKEND: StaticCell<FwTarget> = StaticCell::new();

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
            let _ = writeln!(
                text,
                "FIRMWARE-RESULT: FAIL configuration blob ({} bytes) refused: {:?}",
                CONFIG_BLOB.len(),
                e
            );
            return 2;
        }
    };
    defmt::info!("configuration: {}", config);
    let mut address = [0u8; TARGET_ADDRESS_LEN];
    let l = &config.lun;
    let m = &config.limits;
    let _ = writeln!(
        text,
        "FIRMWARE-CONFIG: blob={}B target={} alias={} portal={} lun={} block_size={} blocks={} thin={} queue_depth={} MaxRecvDataSegmentLength={} MaxBurstLength={} FirstBurstLength={} ImmediateData={} InitialR2T={}",
        CONFIG_BLOB.len(),
        config.target_name,
        config.target_alias.unwrap_or("-"),
        target_address(&config.portal, &mut address),
        l.lun,
        l.block_size,
        l.blocks,
        l.thin,
        m.queue_depth,
        m.max_recv_data_segment_length,
        m.max_burst_length,
        m.first_burst_length,
        m.immediate_data,
        m.initial_r2t
    );
    let f = selftest::Footprint::measure();
    defmt::info!("footprint: {}", f);
    let _ = writeln!(
        text,
        "FIRMWARE-FOOTPRINT: target_engine={} initiator_engine={} nic_endpoint={} target_connection={} target_per_task={} initiator_per_task={} target_per_buffer={} backend={} lu_memory={}",
        f.target_engine,
        f.initiator_engine,
        f.nic_endpoint,
        f.target_connection,
        f.target_per_task,
        f.initiator_per_task,
        f.target_per_buffer,
        f.backend,
        selftest::LU_BYTES
    );
    let (Some(lu), Some(ini), Some(tgt)) = (
        LU.try_take(),
        INITIATOR_REGION.try_take(),
        TARGET_REGION.try_take(),
    ) else {
        let _ = writeln!(text, "FIRMWARE-RESULT: FAIL static resources taken twice");
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
            defmt::info!("summary: {}", s);
            let _ = writeln!(
                text,
                "FIRMWARE-RESULT: PASS {}: login RDMAExtensions=Yes hello={} commands={} bytes_verified={} rdma_reads={} rdma_writes={} sends={}+{} ring_full={} cq_stalls={} elapsed={}{}",
                platform::NAME,
                s.hello,
                s.commands,
                s.bytes_verified,
                s.target_nic.rdma_reads,
                s.target_nic.rdma_writes,
                s.initiator_nic.sends,
                s.target_nic.sends,
                s.initiator_nic.ring_full.saturating_add(s.target_nic.ring_full),
                s.initiator_nic.cq_stalls.saturating_add(s.target_nic.cq_stalls),
                us,
                platform::CLOCK_UNIT
            );
            0
        }
        Err(f) => {
            defmt::error!("self-test failed: {}", f);
            let _ = writeln!(text, "FIRMWARE-RESULT: FAIL {}: {:?}", platform::NAME, f);
            1
        }
    }
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
