//! Logging shim: `defmt` in firmware, `log` on hosts, nothing otherwise.
#![allow(unused_macros)]

macro_rules! trace {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::trace!($($arg)*);
        #[cfg(all(feature = "log", not(feature = "defmt")))]
        ::log::trace!($($arg)*);
    }};
}

macro_rules! debug {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::debug!($($arg)*);
        #[cfg(all(feature = "log", not(feature = "defmt")))]
        ::log::debug!($($arg)*);
    }};
}

macro_rules! info {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::info!($($arg)*);
        #[cfg(all(feature = "log", not(feature = "defmt")))]
        ::log::info!($($arg)*);
    }};
}

macro_rules! warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "defmt")]
        ::defmt::warn!($($arg)*);
        #[cfg(all(feature = "log", not(feature = "defmt")))]
        ::log::warn!($($arg)*);
    }};
}
