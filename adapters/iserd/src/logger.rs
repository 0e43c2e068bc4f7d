//! A tiny `log` backend: one line per record on stderr, `LEVEL message`, with the module for
//! debug and trace records. The level can be changed after start (once the config is read).

use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

struct StderrLogger;

static LOGGER: StderrLogger = StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut err = std::io::stderr().lock();
        // A failed write to stderr has nowhere to be reported.
        let _ = if record.level() >= log::Level::Debug {
            writeln!(
                err,
                "{:<5} {}: {}",
                record.level(),
                record.target(),
                record.args()
            )
        } else {
            writeln!(err, "{:<5} {}", record.level(), record.args())
        };
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Installs the logger (once; later calls only change the level).
pub fn init(level: LevelFilter) {
    // Fails only when a logger is already installed, which is fine.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
