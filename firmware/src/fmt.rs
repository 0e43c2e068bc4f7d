//! Logging shim: defmt in the images (feature `defmt`), nothing in host tests.

#![allow(unused_macros)]

macro_rules! fw_log {
    ($level:ident, $fmt:literal $(, $arg:expr)* $(,)?) => {{
        #[cfg(feature = "defmt")]
        defmt::$level!($fmt $(, $arg)*);
        #[cfg(not(feature = "defmt"))]
        {
            $( let _ = &$arg; )*
        }
    }};
}

macro_rules! info {
    ($($t:tt)*) => { fw_log!(info, $($t)*) };
}

macro_rules! warn {
    ($($t:tt)*) => { fw_log!(warn, $($t)*) };
}

macro_rules! error {
    ($($t:tt)*) => { fw_log!(error, $($t)*) };
}
