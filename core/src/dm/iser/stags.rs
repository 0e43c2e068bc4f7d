//! The STags each SCSI Command advertised in its iSER header (RFC 7145 §7.3.3: Read STag with
//! R, Write STag with W), kept by Initiator Task Tag until the command's SCSI Response is sent
//! (§7.3.4: the response may invalidate them remotely). Entries are held densely, so a lookup
//! costs the commands in flight, not the capacity.

use crate::dm::RemoteBuf;

/// STags a SCSI Command advertised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskStags {
    pub itt: u32,
    pub read: Option<RemoteBuf>,
    pub write: Option<RemoteBuf>,
}

const EMPTY: TaskStags = TaskStags {
    itt: 0,
    read: None,
    write: None,
};

/// At most `N` commands' STags.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StagTable<const N: usize> {
    entries: [TaskStags; N],
    len: usize,
}

impl<const N: usize> StagTable<N> {
    pub(crate) const fn new() -> Self {
        StagTable {
            entries: [EMPTY; N],
            len: 0,
        }
    }

    fn held(&self) -> &[TaskStags] {
        self.entries.get(..self.len).unwrap_or_default()
    }

    fn position(&self, itt: u32) -> Option<usize> {
        self.held().iter().position(|s| s.itt == itt)
    }

    /// Records `entry`, replacing any entry of its ITT. When the table is full, entries for
    /// which `stale` holds are dropped first (tasks that ended without a SCSI Response:
    /// ABORT TASK, resets, a command outside the CmdSN window); if none is, `entry` is not kept.
    #[inline]
    pub(crate) fn insert(&mut self, entry: TaskStags, mut stale: impl FnMut(u32) -> bool) {
        if let Some(at) = self.position(entry.itt) {
            if let Some(old) = self.entries.get_mut(at) {
                *old = entry;
            }
            return;
        }
        if self.len >= N {
            let mut at = self.len;
            while let Some(i) = at.checked_sub(1) {
                at = i;
                if self.entries.get(i).is_some_and(|s| stale(s.itt)) {
                    self.remove_at(i);
                }
            }
        }
        if let Some(slot) = self.entries.get_mut(self.len) {
            *slot = entry;
            self.len = self.len.saturating_add(1);
        }
    }

    /// The STags of `itt`.
    pub(crate) fn get(&self, itt: u32) -> Option<TaskStags> {
        self.held().iter().find(|s| s.itt == itt).copied()
    }

    /// Removes the STags of `itt` and returns the one a Send with Invalidate names: the Read
    /// STag, else the Write STag (`Some(None)`: the ITT had an entry without STags).
    #[inline]
    pub(crate) fn take_invalidate(&mut self, itt: u32) -> Option<Option<u32>> {
        let at = self.position(itt)?;
        let stag = self
            .entries
            .get(at)
            .and_then(|s| s.read.or(s.write))
            .map(|r| r.stag);
        self.remove_at(at);
        Some(stag)
    }

    fn remove_at(&mut self, at: usize) {
        let Some(last) = self.len.checked_sub(1) else {
            return;
        };
        if at != last {
            if let Some(moved) = self.entries.get(last).copied() {
                if let Some(slot) = self.entries.get_mut(at) {
                    *slot = moved;
                }
            }
        }
        self.len = last;
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
    fn test_stag_table_replaces_takes_and_prunes_when_full() {
        let mut t: StagTable<2> = StagTable::new();
        t.insert(stags(1, 10), |_| false);
        t.insert(stags(1, 11), |_| false);
        assert_eq!(
            t.get(1).unwrap().read.unwrap().stag,
            11,
            "same ITT replaced"
        );
        t.insert(stags(2, 20), |_| false);
        t.insert(stags(3, 30), |_| false);
        assert!(t.get(3).is_none(), "full and nothing stale: not kept");
        t.insert(stags(3, 30), |itt| itt == 1);
        assert_eq!(t.get(3).unwrap().read.unwrap().stag, 30);
        assert!(t.get(1).is_none(), "the stale entry made room");
        assert_eq!(t.take_invalidate(2), Some(Some(20)));
        assert!(t.take_invalidate(2).is_none());
        assert_eq!(t.get(3).unwrap().itt, 3);
    }
}
