//! A list of at most `N` items kept in place: the varying counts of a configuration (portals,
//! targets, LUNs) without a heap.

use core::fmt;

/// Up to `N` items of `T`, in order.
#[derive(Clone, Copy)]
pub struct List<T, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy + Default, const N: usize> List<T, N> {
    /// An empty list.
    pub fn new() -> Self {
        List {
            items: [T::default(); N],
            len: 0,
        }
    }

    /// A list of `items`; `None` when there are more than `N`.
    pub fn from_slice(items: &[T]) -> Option<Self> {
        let mut list = Self::new();
        for &item in items {
            list.push(item).ok()?;
        }
        Some(list)
    }

    /// Appends `item`; gives it back when the list is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        let Some(slot) = self.items.get_mut(self.len) else {
            return Err(item);
        };
        *slot = item;
        self.len = self.len.saturating_add(1);
        Ok(())
    }
}

impl<T, const N: usize> List<T, N> {
    /// Most items the list holds.
    pub const CAPACITY: usize = N;

    /// The items.
    pub fn as_slice(&self) -> &[T] {
        self.items.get(..self.len).unwrap_or(&[])
    }

    /// The items, in order.
    pub fn iter(&self) -> core::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    /// The first item.
    pub fn first(&self) -> Option<&T> {
        self.as_slice().first()
    }

    /// How many items there are.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<T: Copy + Default, const N: usize> Default for List<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: PartialEq, const N: usize> PartialEq for List<T, N> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Eq, const N: usize> Eq for List<T, N> {}

impl<T: fmt::Debug, const N: usize> fmt::Debug for List<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

#[cfg(feature = "defmt")]
impl<T: defmt::Format, const N: usize> defmt::Format for List<T, N> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=[?]}", self.as_slice());
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use core::fmt;
    use core::marker::PhantomData;

    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::List;

    impl<T: Serialize, const N: usize> Serialize for List<T, N> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.as_slice())
        }
    }

    impl<'de, T: Deserialize<'de> + Copy + Default, const N: usize> Deserialize<'de> for List<T, N> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_seq(ListVisitor(PhantomData))
        }
    }

    struct ListVisitor<T, const N: usize>(PhantomData<T>);

    impl<'de, T: Deserialize<'de> + Copy + Default, const N: usize> Visitor<'de> for ListVisitor<T, N> {
        type Value = List<T, N>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "at most {N} items")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut list = List::new();
            while let Some(item) = seq.next_element()? {
                if list.push(item).is_err() {
                    return Err(A::Error::invalid_length(N.saturating_add(1), &self));
                }
            }
            Ok(list)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_push_stops_at_capacity() {
        let mut l = List::<u8, 2>::new();
        assert_eq!(l.push(1), Ok(()));
        assert_eq!(l.push(2), Ok(()));
        assert_eq!(l.push(3), Err(3));
        assert_eq!(l.as_slice(), &[1, 2]);
        assert_eq!(List::<u8, 2>::from_slice(&[1, 2, 3]), None);
    }

    #[test]
    fn test_equality_ignores_unused_slots() {
        let a = List::<u8, 3>::from_slice(&[7]).unwrap();
        let mut b = List::<u8, 3>::from_slice(&[7, 9]).unwrap();
        b.len = 1;
        assert_eq!(a, b);
    }
}
