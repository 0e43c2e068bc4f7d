//! The `wire_enum!` macro: wire code points as newtypes with named constants, so reserved and
//! unknown values survive a round trip and `Debug` prints them in hex (rustls `enum_builder!` style).

/// Declares `pub struct Name(pub Repr)` with one associated constant per assigned value, `name()`,
/// `is_known()`, a `Debug` that prints `Name::CONST` or `Name(0x..)`, and `From` both ways.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($repr:ty);
        $( $(#[$cmeta:meta])* $konst:ident = $val:literal, )*
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub struct $name(pub $repr);

        impl $name {
            $( $(#[$cmeta])* pub const $konst: $name = $name($val); )*

            /// The name of this value's constant, or `None` for a value without one.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $( $val => Some(stringify!($konst)), )*
                    _ => None,
                }
            }

            /// Whether this value has a named constant (is assigned by the RFC).
            pub const fn is_known(self) -> bool {
                self.name().is_some()
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self.name() {
                    Some(name) => write!(f, "{}::{}", stringify!($name), name),
                    None => write!(f, "{}({:#04x})", stringify!($name), self.0),
                }
            }
        }

        impl From<$repr> for $name {
            fn from(value: $repr) -> Self {
                $name(value)
            }
        }

        impl From<$name> for $repr {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}
