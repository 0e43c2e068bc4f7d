//! Initiator Task Tags (RFC 7143 §11.2.1.8) and their allocation on the initiator side.
//!
//! The ITT is chosen by the initiator and must be unique among its outstanding tasks in the
//! session; `0xffffffff` is reserved (RFC 7143 §11.18: a NOP-Out that wants no NOP-In answer).

use core::fmt;

use super::table::TaskTable;

/// An Initiator Task Tag. Debug prints it in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Itt(pub u32);

impl Itt {
    /// The reserved tag `0xffffffff`: never names a task.
    pub const RESERVED: Itt = Itt(0xffff_ffff);
}

impl fmt::Debug for Itt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Itt({:#010x})", self.0)
    }
}

impl From<u32> for Itt {
    fn from(v: u32) -> Self {
        Itt(v)
    }
}

impl From<Itt> for u32 {
    fn from(v: Itt) -> Self {
        v.0
    }
}

/// Why no ITT could be allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum IttError {
    /// Every candidate probed was in use (or the task table is full).
    Exhausted,
}

/// Hands out ITTs in increasing (wrapping) order, skipping [`Itt::RESERVED`] and tags still in use.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct IttAllocator {
    next: u32,
}

impl IttAllocator {
    /// Start at ITT 0.
    pub const fn new() -> Self {
        IttAllocator { next: 0 }
    }

    /// Start at `first` (e.g. a per-session random value, so tags of consecutive sessions differ).
    pub const fn starting_at(first: u32) -> Self {
        IttAllocator { next: first }
    }

    fn candidate(&mut self) -> Itt {
        if self.next == Itt::RESERVED.0 {
            self.next = 0;
        }
        let c = Itt(self.next);
        self.next = self.next.wrapping_add(1);
        c
    }

    /// A tag no task in `table` uses. Fails only when the table is full (the insert would fail
    /// anyway); otherwise at most `table.len() + 1` candidates are probed.
    pub fn allocate<T, const N: usize>(
        &mut self,
        table: &TaskTable<T, N>,
    ) -> Result<Itt, IttError> {
        if table.is_full() {
            return Err(IttError::Exhausted);
        }
        self.allocate_with(|itt| table.contains_itt(itt), table.len())
    }

    /// A tag for which `in_use` is false, probing at most `outstanding + 1` candidates: if
    /// `in_use` reports at most `outstanding` tags, one of those distinct candidates is free.
    pub fn allocate_with(
        &mut self,
        mut in_use: impl FnMut(Itt) -> bool,
        outstanding: usize,
    ) -> Result<Itt, IttError> {
        for _ in 0..=outstanding {
            let c = self.candidate();
            if !in_use(c) {
                return Ok(c);
            }
        }
        Err(IttError::Exhausted)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::format;

    #[test]
    fn test_itt_skips_reserved() {
        let mut a = IttAllocator::starting_at(0xffff_fffe);
        let none = |_| false;
        assert_eq!(a.allocate_with(none, 0), Ok(Itt(0xffff_fffe)));
        assert_eq!(a.allocate_with(none, 0), Ok(Itt(0)));
        assert_eq!(a.allocate_with(none, 0), Ok(Itt(1)));
    }

    #[test]
    fn test_itt_skips_in_use() {
        let mut t: TaskTable<(), 4> = TaskTable::new();
        t.insert(Itt(0), ()).unwrap();
        t.insert(Itt(1), ()).unwrap();
        let mut a = IttAllocator::new();
        assert_eq!(a.allocate(&t), Ok(Itt(2)));
    }

    #[test]
    fn test_itt_full_table() {
        let mut t: TaskTable<(), 1> = TaskTable::new();
        t.insert(Itt(5), ()).unwrap();
        assert_eq!(IttAllocator::new().allocate(&t), Err(IttError::Exhausted));
    }

    #[test]
    fn test_itt_debug_is_hex() {
        assert_eq!(format!("{:?}", Itt(0x1f)), "Itt(0x0000001f)");
    }

    proptest! {
        /// Allocated ITTs are never reserved and never collide with an outstanding task, from
        /// any starting point (including right at the wrap).
        #[test]
        fn prop_itt_unique_and_not_reserved(
            start in prop_oneof![any::<u32>(), 0xffff_fff0u32..=u32::MAX],
            frees in proptest::collection::vec(any::<bool>(), 1..100),
        ) {
            let mut t: TaskTable<(), 5> = TaskTable::new();
            let mut a = IttAllocator::starting_at(start);
            for free in frees {
                if free {
                    let first = t.iter().next().map(|(s, _, _)| s);
                    if let Some(s) = first {
                        t.remove(s);
                    }
                }
                match a.allocate(&t) {
                    Ok(itt) => {
                        prop_assert_ne!(itt, Itt::RESERVED);
                        prop_assert!(!t.contains_itt(itt));
                        prop_assert!(t.insert(itt, ()).is_ok());
                    }
                    Err(IttError::Exhausted) => prop_assert!(t.is_full()),
                }
            }
        }
    }
}
