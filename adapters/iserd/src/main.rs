//! The `iserd` binary: parse the command line, load the configuration, serve until SIGINT or
//! SIGTERM, exit 0.

use std::process::ExitCode;

use iserd::cli::{self, Command};

fn main() -> ExitCode {
    let options = match cli::parse_args(std::env::args_os().skip(1)) {
        Ok(Command::Run(o)) => o,
        Ok(Command::Help) => {
            print!("{}", cli::USAGE);
            return ExitCode::SUCCESS;
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
    log::info!(
        "configuration: {} target(s), {} portal(s)",
        config.targets.len(),
        config.portals.len()
    );
    ExitCode::SUCCESS
}
