//! The send queue in posting order, so that work requests posted unsignalled are still reported
//! done, each exactly once: on a reliable connection a send queue's completions come in the order
//! its work requests were posted, and a request that fails or is flushed always completes,
//! signalled or not (the verbs' rules for RC send queues; soft-RoCE's completer follows them).
//! So a completion for one request means every earlier one not reported on its own succeeded.

use std::collections::VecDeque;

use iser_core::dm::{DmEvent, WcStatus, WrId};

/// Work request ids of the send queue, oldest first, until they are known done.
#[derive(Debug, Default)]
pub(crate) struct SendQueue {
    posted: VecDeque<u64>,
}

impl SendQueue {
    /// Records a work request the device took, in posting order.
    pub fn posted(&mut self, wr_id: u64) {
        self.posted.push_back(wr_id);
    }

    /// A send-queue completion for `wr_id`: every earlier request still listed is done with
    /// success (pushed to `out` in order, before the caller pushes this completion's own event).
    /// Returns how many requests left the queue, this one included (1 when `wr_id` is not
    /// listed: nothing else is assumed then).
    pub fn complete(&mut self, wr_id: u64, out: &mut VecDeque<DmEvent>) -> u32 {
        let Some(at) = self.posted.iter().position(|&id| id == wr_id) else {
            return 1;
        };
        for id in self.posted.drain(..=at).take(at) {
            out.push_back(DmEvent::Done {
                id: WrId(id),
                status: WcStatus::Success,
            });
        }
        u32::try_from(at).unwrap_or(u32::MAX).saturating_add(1)
    }

    /// Requests not yet known done.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.posted.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(id: u64) -> DmEvent {
        DmEvent::Done {
            id: WrId(id),
            status: WcStatus::Success,
        }
    }

    #[test]
    fn a_completion_retires_the_unsignalled_requests_before_it() {
        let mut q = SendQueue::default();
        let mut out = VecDeque::new();
        for id in [1, 2, 3, 4] {
            q.posted(id);
        }
        assert_eq!(q.complete(3, &mut out), 3);
        assert_eq!(out, [done(1), done(2)]);
        assert_eq!(q.len(), 1);
        out.clear();
        assert_eq!(q.complete(4, &mut out), 1);
        assert!(out.is_empty());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn an_unknown_completion_retires_only_itself() {
        let mut q = SendQueue::default();
        let mut out = VecDeque::new();
        q.posted(7);
        assert_eq!(q.complete(9, &mut out), 1);
        assert!(out.is_empty());
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_failed_unsignalled_request_completes_itself_first() {
        // A flush reports every request, signalled or not, in order.
        let mut q = SendQueue::default();
        let mut out = VecDeque::new();
        for id in [1, 2, 3] {
            q.posted(id);
        }
        assert_eq!(q.complete(1, &mut out), 1);
        assert_eq!(q.complete(2, &mut out), 1);
        assert_eq!(q.complete(3, &mut out), 1);
        assert!(out.is_empty());
    }
}
