//! Fixed-capacity task table keyed by Initiator Task Tag (RFC 7143 §11.2.1.8: the ITT identifies a
//! task uniquely within the session for as long as it is outstanding).
//!
//! Each entry also has a [`TaskSlot`]: an index plus a generation, so the hot path can reach a task
//! in O(1) (e.g. from an RDMA completion's work-request id) and a slot kept past the task's end can
//! never reach the task that reuses the index. ITT lookups scan the table (capacities are small).

use super::itt::Itt;

/// Why a task could not be inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum TaskError {
    /// All `N` slots hold tasks.
    Full,
    /// A task with this ITT is still outstanding (RFC 7143 §11.2.1.8 requires ITTs to be unique).
    DuplicateItt,
    /// `0xffffffff` is reserved (RFC 7143 §11.18 / §11.19: NOP-Out/NOP-In not expecting an
    /// answer) and never names a task.
    ReservedItt,
}

/// A generation-checked reference to one table entry. Stale once the entry is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TaskSlot {
    index: usize,
    generation: u32,
}

impl TaskSlot {
    /// Position in the table, `0..N`; stable for the task's life (handy for work-request ids).
    pub const fn index(&self) -> usize {
        self.index
    }

    /// Generation the slot had when the task was inserted.
    pub const fn generation(&self) -> u32 {
        self.generation
    }
}

#[derive(Debug)]
struct Slot<T> {
    /// Bumped (wrapping) on every removal, so old `TaskSlot`s stop matching.
    generation: u32,
    entry: Option<(Itt, T)>,
}

/// A fixed-capacity table of `N` outstanding tasks of type `T`. No allocation.
#[derive(Debug)]
pub struct TaskTable<T, const N: usize> {
    slots: [Slot<T>; N],
    len: usize,
    /// Indices of the occupied slots, densely in `live[..len]`, so scans cost the tasks held,
    /// not the capacity.
    live: [usize; N],
    /// Where each occupied slot sits in `live`.
    live_pos: [usize; N],
    /// Indices of free slots, a stack in `free[..N - len]`.
    free: [usize; N],
}

/// [`TaskTable::release`] over the table's index arrays as slices (`free.len()` is `N`): one
/// copy for every table type.
fn release(
    live: &mut [usize],
    live_pos: &mut [usize],
    free: &mut [usize],
    len: &mut usize,
    index: usize,
) {
    let Some(&pos) = live_pos.get(index) else {
        return;
    };
    let Some(last) = len.checked_sub(1) else {
        return;
    };
    let moved = live.get(last).copied().unwrap_or(index);
    if let Some(p) = live.get_mut(pos) {
        *p = moved;
    }
    if let Some(p) = live_pos.get_mut(moved) {
        *p = pos;
    }
    *len = last;
    let top = free.len().saturating_sub(last).saturating_sub(1);
    if let Some(f) = free.get_mut(top) {
        *f = index;
    }
}

impl<T, const N: usize> Default for TaskTable<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> TaskTable<T, N> {
    /// An empty table.
    pub fn new() -> Self {
        TaskTable {
            slots: core::array::from_fn(|_| Slot {
                generation: 0,
                entry: None,
            }),
            len: 0,
            live: [0; N],
            live_pos: [0; N],
            free: core::array::from_fn(|i| N.saturating_sub(1).saturating_sub(i)),
        }
    }

    /// Occupied slot indices.
    fn live_indices(&self) -> &[usize] {
        self.live.get(..self.len).unwrap_or_default()
    }

    /// Takes a free slot index and records it as live.
    fn take_free(&mut self) -> Option<usize> {
        let top = N.checked_sub(self.len)?.checked_sub(1)?;
        let index = *self.free.get(top)?;
        *self.live.get_mut(self.len)? = index;
        *self.live_pos.get_mut(index)? = self.len;
        self.len = self.len.saturating_add(1);
        Some(index)
    }

    /// Returns an occupied slot index to the free stack.
    fn release(&mut self, index: usize) {
        release(
            &mut self.live,
            &mut self.live_pos,
            &mut self.free,
            &mut self.len,
            index,
        );
    }

    /// Maximum number of tasks (`N`).
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Number of tasks held.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// No task held.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All `N` slots hold tasks.
    pub const fn is_full(&self) -> bool {
        self.len >= N
    }

    /// Add a task under `itt`. On failure the value is handed back with the reason.
    #[cfg_attr(not(feature = "small-code"), inline(always))]
    pub fn insert(&mut self, itt: Itt, value: T) -> Result<TaskSlot, (TaskError, T)> {
        self.insert_mut(itt, value).map(|(slot, _)| slot)
    }

    /// As [`insert`](Self::insert), also giving the entry, for a caller that fills it in place.
    #[cfg_attr(not(feature = "small-code"), inline(always))]
    pub fn insert_mut(&mut self, itt: Itt, value: T) -> Result<(TaskSlot, &mut T), (TaskError, T)> {
        if itt == Itt::RESERVED {
            return Err((TaskError::ReservedItt, value));
        }
        if self.contains_itt(itt) {
            return Err((TaskError::DuplicateItt, value));
        }
        let Some(index) = self.take_free() else {
            return Err((TaskError::Full, value));
        };
        match self.slots.get_mut(index) {
            Some(slot) => {
                let generation = slot.generation;
                let (_, entry) = slot.entry.insert((itt, value));
                Ok((TaskSlot { index, generation }, entry))
            }
            None => Err((TaskError::Full, value)),
        }
    }

    /// Whether a task with this ITT is outstanding.
    pub fn contains_itt(&self, itt: Itt) -> bool {
        self.slot_of(itt).is_some()
    }

    /// The slot of the task with this ITT.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn slot_of(&self, itt: Itt) -> Option<TaskSlot> {
        self.live_indices().iter().find_map(|&index| {
            let s = self.slots.get(index)?;
            match &s.entry {
                Some((i, _)) if *i == itt => Some(TaskSlot {
                    index,
                    generation: s.generation,
                }),
                _ => None,
            }
        })
    }

    fn live(&self, slot: TaskSlot) -> Option<&(Itt, T)> {
        let s = self.slots.get(slot.index)?;
        if s.generation != slot.generation {
            return None;
        }
        s.entry.as_ref()
    }

    fn live_mut(&mut self, slot: TaskSlot) -> Option<&mut (Itt, T)> {
        let s = self.slots.get_mut(slot.index)?;
        if s.generation != slot.generation {
            return None;
        }
        s.entry.as_mut()
    }

    /// The task in `slot`, unless the slot is stale.
    pub fn get(&self, slot: TaskSlot) -> Option<&T> {
        self.live(slot).map(|(_, t)| t)
    }

    /// The task in `slot`, mutably, unless the slot is stale.
    pub fn get_mut(&mut self, slot: TaskSlot) -> Option<&mut T> {
        self.live_mut(slot).map(|(_, t)| t)
    }

    /// The ITT of the task in `slot`, unless the slot is stale.
    pub fn itt_of(&self, slot: TaskSlot) -> Option<Itt> {
        self.live(slot).map(|(i, _)| *i)
    }

    /// The task with this ITT.
    pub fn get_by_itt(&self, itt: Itt) -> Option<&T> {
        self.slot_of(itt).and_then(|s| self.get(s))
    }

    /// The task with this ITT, mutably.
    pub fn get_mut_by_itt(&mut self, itt: Itt) -> Option<&mut T> {
        self.slot_of(itt).and_then(move |s| self.get_mut(s))
    }

    /// Remove the task in `slot`; its ITT may then be reused (RFC 7143 §11.2.1.8). `None` if the
    /// slot is stale. On success the slot's generation moves on, so `slot` goes stale.
    pub fn remove(&mut self, slot: TaskSlot) -> Option<(Itt, T)> {
        let s = self.slots.get_mut(slot.index)?;
        if s.generation != slot.generation {
            return None;
        }
        let entry = s.entry.take()?;
        s.generation = s.generation.wrapping_add(1);
        self.release(slot.index);
        Some(entry)
    }

    /// Remove the task in `slot` without handing it back (no copy of a large entry); false if
    /// the slot is stale.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn discard(&mut self, slot: TaskSlot) -> bool {
        let Some(s) = self.slots.get_mut(slot.index) else {
            return false;
        };
        if s.generation != slot.generation || s.entry.is_none() {
            return false;
        }
        s.entry = None;
        s.generation = s.generation.wrapping_add(1);
        self.release(slot.index);
        true
    }

    /// Remove the task with this ITT.
    pub fn remove_by_itt(&mut self, itt: Itt) -> Option<T> {
        let slot = self.slot_of(itt)?;
        self.remove(slot).map(|(_, t)| t)
    }

    /// Keep only the tasks for which `keep` returns true; the rest are handed to `removed`
    /// (so resources such as buffer handles they hold are never silently dropped).
    pub fn retain(
        &mut self,
        mut keep: impl FnMut(Itt, &mut T) -> bool,
        mut removed: impl FnMut(Itt, T),
    ) {
        // Backwards, so a removal's swap only moves an entry already visited.
        let mut pos = self.len;
        while let Some(p) = pos.checked_sub(1) {
            pos = p;
            let Some(&index) = self.live.get(p) else {
                continue;
            };
            let Some(s) = self.slots.get_mut(index) else {
                continue;
            };
            let drop_it = match &mut s.entry {
                Some((itt, t)) => !keep(*itt, t),
                None => false,
            };
            if drop_it {
                if let Some((itt, t)) = s.entry.take() {
                    s.generation = s.generation.wrapping_add(1);
                    self.release(index);
                    removed(itt, t);
                }
            }
        }
    }

    /// Round-robin search: the first held task, starting at position `cursor` of the held
    /// tasks and wrapping around, for which `pred` holds; with the cursor to pass next time.
    /// Costs the number of tasks held, not the capacity.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub fn next_where(
        &self,
        cursor: usize,
        mut pred: impl FnMut(&T) -> bool,
    ) -> Option<(TaskSlot, usize)> {
        let n = self.len;
        if n == 0 {
            return None;
        }
        let mut pos = cursor.checked_rem(n).unwrap_or(0);
        for _ in 0..n {
            let index = self.live.get(pos).copied().unwrap_or(0);
            if let Some(slot) = self.slots.get(index) {
                if let Some((_, t)) = &slot.entry {
                    if pred(t) {
                        let slot = TaskSlot {
                            index,
                            generation: slot.generation,
                        };
                        return Some((slot, pos.wrapping_add(1)));
                    }
                }
            }
            pos = pos.wrapping_add(1);
            if pos == n {
                pos = 0;
            }
        }
        None
    }

    /// Outstanding tasks in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (TaskSlot, Itt, &T)> + '_ {
        self.slots.iter().enumerate().filter_map(|(index, s)| {
            s.entry.as_ref().map(|(itt, t)| {
                (
                    TaskSlot {
                        index,
                        generation: s.generation,
                    },
                    *itt,
                    t,
                )
            })
        })
    }

    /// Outstanding tasks in slot order, mutably.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (TaskSlot, Itt, &mut T)> + '_ {
        self.slots.iter_mut().enumerate().filter_map(|(index, s)| {
            let generation = s.generation;
            s.entry
                .as_mut()
                .map(|(itt, t)| (TaskSlot { index, generation }, *itt, t))
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::vec::Vec;

    #[test]
    fn test_table_insert_lookup_remove() {
        let mut t: TaskTable<u32, 2> = TaskTable::new();
        let a = t.insert(Itt(1), 10).unwrap();
        let b = t.insert(Itt(2), 20).unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.is_full());
        assert_eq!(t.insert(Itt(3), 30), Err((TaskError::Full, 30)));
        assert_eq!(t.get(a), Some(&10));
        assert_eq!(t.get_by_itt(Itt(2)), Some(&20));
        assert_eq!(t.itt_of(b), Some(Itt(2)));
        *t.get_mut_by_itt(Itt(1)).unwrap() += 1;
        assert_eq!(t.remove(a), Some((Itt(1), 11)));
        assert_eq!(t.len(), 1);
        assert_eq!(t.get_by_itt(Itt(1)), None);
    }

    #[test]
    fn test_table_discard_frees_the_slot_once() {
        let mut t: TaskTable<u32, 2> = TaskTable::new();
        let a = t.insert(Itt(1), 10).unwrap();
        let b = t.insert(Itt(2), 20).unwrap();
        assert!(t.discard(a));
        assert!(!t.discard(a), "stale after the first discard");
        assert_eq!((t.len(), t.get(a), t.get(b)), (1, None, Some(&20)));
        assert!(!t.contains_itt(Itt(1)));
        let c = t.insert(Itt(3), 30).unwrap();
        assert_eq!(c.index(), a.index(), "the slot is free again");
        assert!(!t.discard(a), "a stale slot does not discard its new task");
        assert_eq!(t.get(c), Some(&30));
    }

    #[test]
    fn test_table_duplicate_and_reserved_itt() {
        let mut t: TaskTable<(), 4> = TaskTable::new();
        t.insert(Itt(7), ()).unwrap();
        assert_eq!(t.insert(Itt(7), ()), Err((TaskError::DuplicateItt, ())));
        assert_eq!(
            t.insert(Itt::RESERVED, ()),
            Err((TaskError::ReservedItt, ()))
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn test_table_stale_slot_never_reaches_new_task() {
        let mut t: TaskTable<&str, 1> = TaskTable::new();
        let old = t.insert(Itt(1), "old").unwrap();
        assert!(t.remove(old).is_some());
        let new = t.insert(Itt(2), "new").unwrap();
        assert_eq!(old.index(), new.index(), "same index reused");
        assert_eq!(t.get(old), None);
        assert_eq!(t.get_mut(old), None);
        assert_eq!(t.remove(old), None);
        assert_eq!(t.get(new), Some(&"new"));
    }

    #[test]
    fn test_table_next_where_wraps_around() {
        let mut t: TaskTable<u32, 4> = TaskTable::new();
        let a = t.insert(Itt(1), 10).unwrap();
        let b = t.insert(Itt(2), 11).unwrap();
        let c = t.insert(Itt(3), 12).unwrap();
        assert_eq!(t.next_where(0, |_| true), Some((a, 1)));
        assert_eq!(t.next_where(1, |_| true), Some((b, 2)));
        assert_eq!(t.next_where(3, |_| true), Some((a, 1)), "the cursor wraps");
        assert_eq!(t.next_where(1, |v| *v == 10), Some((a, 1)));
        assert_eq!(t.next_where(0, |v| *v == 99), None);
        t.remove(b).unwrap();
        assert_eq!(
            t.next_where(1, |_| true),
            Some((c, 2)),
            "removal keeps the rest reachable"
        );
    }

    #[test]
    fn test_table_retain_hands_back_removed() {
        let mut t: TaskTable<u32, 4> = TaskTable::new();
        for i in 0..4 {
            t.insert(Itt(i), i).unwrap();
        }
        let mut gone = Vec::new();
        t.retain(|_, v| *v % 2 == 0, |itt, v| gone.push((itt, v)));
        gone.sort();
        assert_eq!(gone, [(Itt(1), 1), (Itt(3), 3)]);
        assert_eq!(t.len(), 2);
        let left: Vec<_> = t.iter().map(|(_, i, v)| (i, *v)).collect();
        assert_eq!(left, [(Itt(0), 0), (Itt(2), 2)]);
        for (_, _, v) in t.iter_mut() {
            *v += 100;
        }
        assert_eq!(t.get_by_itt(Itt(2)), Some(&102));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u32),
        RemoveItt(u32),
        RemoveSlot(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..12).prop_map(Op::Insert),
            Just(Op::Insert(u32::MAX)),
            (0u32..12).prop_map(Op::RemoveItt),
            (0usize..64).prop_map(Op::RemoveSlot),
        ]
    }

    proptest! {
        /// The table behaves like a map with capacity N, and every slot ever handed out is either
        /// live with its own value or rejected.
        #[test]
        fn prop_table_matches_model(ops in proptest::collection::vec(op(), 0..200)) {
            let mut t: TaskTable<u32, 6> = TaskTable::new();
            let mut model: HashMap<u32, u32> = HashMap::new();
            let mut slots: Vec<(TaskSlot, u32, u32)> = Vec::new();
            for (n, op) in ops.into_iter().enumerate() {
                let value = n as u32;
                match op {
                    Op::Insert(itt) => {
                        let r = t.insert(Itt(itt), value);
                        if itt == u32::MAX {
                            prop_assert_eq!(r, Err((TaskError::ReservedItt, value)));
                        } else if model.contains_key(&itt) {
                            prop_assert_eq!(r, Err((TaskError::DuplicateItt, value)));
                        } else if model.len() == 6 {
                            prop_assert_eq!(r, Err((TaskError::Full, value)));
                        } else {
                            let s = r.unwrap();
                            model.insert(itt, value);
                            slots.push((s, itt, value));
                        }
                    }
                    Op::RemoveItt(itt) => {
                        prop_assert_eq!(t.remove_by_itt(Itt(itt)), model.remove(&itt));
                    }
                    Op::RemoveSlot(k) => {
                        if let Some(&(s, itt, value)) = slots.get(k % slots.len().max(1)) {
                            let live = model.get(&itt) == Some(&value);
                            let r = t.remove(s);
                            if live {
                                prop_assert_eq!(r, Some((Itt(itt), value)));
                                model.remove(&itt);
                            } else {
                                prop_assert_eq!(r, None);
                            }
                        }
                    }
                }
                prop_assert_eq!(t.len(), model.len());
                prop_assert_eq!(t.iter().count(), model.len());
                for (itt, v) in &model {
                    prop_assert_eq!(t.get_by_itt(Itt(*itt)), Some(v));
                }
                for &(s, itt, value) in &slots {
                    let live = model.get(&itt) == Some(&value);
                    prop_assert_eq!(t.get(s), if live { Some(&value) } else { None });
                }
            }
        }
    }
}
