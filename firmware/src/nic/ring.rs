//! A fixed-capacity FIFO ring in static memory: the shape of a NIC's submission, receive and
//! completion queues (producer index, consumer index, `N` slots, no allocation).

/// A FIFO of at most `N` entries. Indices run freely (wrapping `u32`); the slot of index `i` is
/// `i % N`.
#[derive(Debug)]
pub struct Ring<T: Copy, const N: usize> {
    slots: [Option<T>; N],
    /// Producer index: the next entry goes to `head % N`.
    head: u32,
    /// Consumer index: the oldest entry sits at `tail % N`.
    tail: u32,
}

impl<T: Copy, const N: usize> Default for Ring<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Copy, const N: usize> Ring<T, N> {
    /// An empty ring.
    pub const fn new() -> Self {
        Ring {
            slots: [None; N],
            head: 0,
            tail: 0,
        }
    }

    /// Entries queued.
    pub fn len(&self) -> usize {
        self.head.wrapping_sub(self.tail) as usize
    }

    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// Room for `n` more entries.
    pub fn has_room(&self, n: usize) -> bool {
        self.len().checked_add(n).is_some_and(|l| l <= N)
    }

    fn slot(&mut self, index: u32) -> Option<&mut Option<T>> {
        let i = (index as usize).checked_rem(N)?;
        self.slots.get_mut(i)
    }

    /// Appends `value`, or hands it back when the ring is full.
    pub fn push(&mut self, value: T) -> Result<(), T> {
        if !self.has_room(1) {
            return Err(value);
        }
        let head = self.head;
        match self.slot(head) {
            Some(slot) => {
                *slot = Some(value);
                self.head = head.wrapping_add(1);
                Ok(())
            }
            None => Err(value),
        }
    }

    /// The oldest entry, without removing it.
    pub fn peek(&self) -> Option<&T> {
        if self.is_empty() {
            return None;
        }
        let i = (self.tail as usize).checked_rem(N)?;
        self.slots.get(i)?.as_ref()
    }

    /// Removes and returns the oldest entry.
    pub fn pop(&mut self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let tail = self.tail;
        let value = self.slot(tail)?.take();
        self.tail = tail.wrapping_add(1);
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;

    #[test]
    fn test_ring_full_hands_value_back() {
        let mut r: Ring<u8, 2> = Ring::new();
        assert_eq!(r.push(1), Ok(()));
        assert_eq!(r.push(2), Ok(()));
        assert_eq!(r.push(3), Err(3));
        assert_eq!(r.pop(), Some(1));
        assert_eq!(r.push(3), Ok(()));
        assert_eq!(r.pop(), Some(2));
        assert_eq!(r.pop(), Some(3));
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn test_ring_zero_capacity_is_always_full() {
        let mut r: Ring<u8, 0> = Ring::new();
        assert_eq!(r.push(1), Err(1));
        assert_eq!(r.pop(), None);
    }

    proptest! {
        /// The ring behaves as a bounded FIFO, across index wrap-around.
        #[test]
        fn ring_matches_bounded_vecdeque(ops in proptest::collection::vec(any::<Option<u16>>(), 0..400),
                                         start in any::<u32>()) {
            let mut r: Ring<u16, 5> = Ring::new();
            r.head = start;
            r.tail = start;
            let mut model = VecDeque::new();
            for op in ops {
                match op {
                    Some(v) => {
                        let got = r.push(v);
                        if model.len() < 5 { model.push_back(v); prop_assert_eq!(got, Ok(())); }
                        else { prop_assert_eq!(got, Err(v)); }
                    }
                    None => prop_assert_eq!(r.pop(), model.pop_front()),
                }
                prop_assert_eq!(r.len(), model.len());
                prop_assert_eq!(r.peek().copied(), model.front().copied());
            }
        }
    }
}
