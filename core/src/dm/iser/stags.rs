//! The STags each SCSI Command advertised in its iSER header (RFC 7145 §7.3.3: Read STag with
//! R, Write STag with W), kept in the entry of the session's task slot that holds the command
//! until its SCSI Response is sent (§7.3.4: the response may invalidate them remotely). A lookup
//! is one index and an ITT check, whatever the commands in flight.

use crate::dm::RemoteBuf;

/// STags a SCSI Command advertised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskStags {
    pub itt: u32,
    pub read: Option<RemoteBuf>,
    pub write: Option<RemoteBuf>,
}

/// STags by task slot index (`0..N`, the session's task table). An entry names its ITT, so one
/// left behind by a task that ended without a response (aborted) never answers for another.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StagTable<const N: usize> {
    entries: [Option<TaskStags>; N],
}

impl<const N: usize> StagTable<N> {
    pub(crate) const fn new() -> Self {
        StagTable { entries: [None; N] }
    }

    /// Records the STags of the command now held in task slot `index`.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn set(&mut self, index: usize, entry: TaskStags) {
        if let Some(slot) = self.entries.get_mut(index) {
            *slot = Some(entry);
        }
    }

    /// The STags of the command with this ITT in task slot `index`.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn get(&self, index: usize, itt: u32) -> Option<TaskStags> {
        self.entries
            .get(index)
            .copied()
            .flatten()
            .filter(|s| s.itt == itt)
    }

    /// Forgets the entry of the command with this ITT in task slot `index` (its SCSI Response
    /// is going out) and gives the STag to invalidate with it, if it advertised one; `None`
    /// when no such entry is held.
    #[cfg_attr(not(feature = "small-code"), inline)]
    pub(crate) fn take_invalidate(&mut self, index: usize, itt: u32) -> Option<Option<u32>> {
        let slot = self.entries.get_mut(index)?;
        let entry = slot.filter(|s| s.itt == itt)?;
        *slot = None;
        Some(entry.read.or(entry.write).map(|r| r.stag))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn stags(itt: u32, stag: u32) -> TaskStags {
        TaskStags {
            itt,
            read: Some(RemoteBuf { stag, addr: 0 }),
            write: None,
        }
    }

    #[test]
    fn test_stag_table_keeps_entries_by_slot_and_checks_the_itt() {
        let mut t: StagTable<2> = StagTable::new();
        t.set(0, stags(1, 10));
        t.set(0, stags(1, 11));
        assert_eq!(t.get(0, 1).unwrap().read.unwrap().stag, 11, "replaced");
        t.set(1, stags(2, 20));
        assert!(t.get(1, 1).is_none(), "another command's slot");
        assert!(t.take_invalidate(0, 2).is_none(), "ITT differs: kept");
        assert_eq!(t.take_invalidate(0, 1), Some(Some(11)));
        assert!(t.take_invalidate(0, 1).is_none(), "taken once");
        t.set(5, stags(3, 30));
        assert!(t.get(5, 3).is_none(), "beyond the table: not kept");
        let none = TaskStags {
            itt: 4,
            read: None,
            write: None,
        };
        t.set(1, none);
        assert_eq!(
            t.take_invalidate(1, 4),
            Some(None),
            "held, nothing to invalidate"
        );
    }
}
