//! The `iserd` binary: parse the command line, load the configuration, serve until SIGINT or
//! SIGTERM, exit 0.

use std::process::ExitCode;

use std::sync::Arc;

use iserd::cli::{self, Command};
use iserd::daemon::Daemon;
use iserd::server::Server;

fn main() -> ExitCode {
    let options = match cli::parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
        }
        Ok(Command::FirmwareConfig { input, output }) => {
            return match iserd::firmware::convert(&input, &output) {
                Ok(summary) => {
                    println!("{summary}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("iserd firmware-config: {e}");
                    ExitCode::from(2)
                }
            };
        }
        Ok(Command::Version) => {
            println!("iserd {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("iserd: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    iserd::logger::init(cli::early_log_level(&options));
    let config = match options.into_config() {
        Ok(c) => c,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::from(2);
        }
    };
    log::set_max_level(config.log_level);
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: iserd::config::Config) -> Result<(), Box<dyn std::error::Error>> {
    use signal_hook::consts::{SIGINT, SIGTERM};

    let daemon = Arc::new(Daemon::new(config)?);
    let server = Server::bind(daemon.clone())?;
    let handle = server.shutdown_handle();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                if seen == 1 {
                    log::info!("{name}: shutting down");
                    handle.trigger();
                } else {
                    log::warn!("{name} again: exiting now");
                    std::process::exit(1);
                }
            }
        })?;
    log::info!(
        "serving {} target(s): {}",
        daemon.targets.len(),
        daemon
            .targets
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    server.run();
    // Every connection has ended: make what file LUNs acknowledged durable before exiting.
    for target in &daemon.targets {
        for lun in &target.luns {
            let mut lu = iserd::daemon::lock(&lun.lu);
            if let Err(e) = iser_core::scsi::BlockDevice::flush(lu.device_mut()) {
                log::error!(
                    "{} LUN {}: flush at shutdown failed: {e:?}",
                    target.name,
                    lun.id
                );
            }
        }
    }
    log::info!("stopped");
    Ok(())
}
