//! Counters of the in-memory fabric: work requests posted per kind, bytes moved, errors and
//! flushes, for tests and benchmarks.

/// What one endpoint did. Posts are counted whatever their outcome; bytes only when they moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counters {
    /// Receives posted.
    pub recvs_posted: u64,
    /// Receives that completed with a message.
    pub recvs_completed: u64,
    /// Sends posted (with or without Invalidate).
    pub sends: u64,
    /// RDMA Writes posted.
    pub rdma_writes: u64,
    /// RDMA Reads posted.
    pub rdma_reads: u64,
    /// Disconnects posted.
    pub disconnects: u64,
    /// Payload bytes of successful Sends.
    pub send_bytes: u64,
    /// Bytes written into the peer by successful RDMA Writes.
    pub rdma_write_bytes: u64,
    /// Bytes fetched from the peer by successful RDMA Reads.
    pub rdma_read_bytes: u64,
    /// Completions with an error other than `Flushed` (on this endpoint's work requests).
    pub errors: u64,
    /// Completions with `Flushed`.
    pub flushed: u64,
    /// Registrations made.
    pub registrations: u64,
    /// Registrations ended, locally or by the peer's Send with Invalidate.
    pub invalidations: u64,
}

impl Counters {
    /// Bytes moved by Sends, RDMA Writes and RDMA Reads.
    pub fn bytes_moved(&self) -> u64 {
        self.send_bytes
            .saturating_add(self.rdma_write_bytes)
            .saturating_add(self.rdma_read_bytes)
    }

    /// Field-wise sum (saturating).
    pub fn merged(&self, other: &Counters) -> Counters {
        Counters {
            recvs_posted: self.recvs_posted.saturating_add(other.recvs_posted),
            recvs_completed: self.recvs_completed.saturating_add(other.recvs_completed),
            sends: self.sends.saturating_add(other.sends),
            rdma_writes: self.rdma_writes.saturating_add(other.rdma_writes),
            rdma_reads: self.rdma_reads.saturating_add(other.rdma_reads),
            disconnects: self.disconnects.saturating_add(other.disconnects),
            send_bytes: self.send_bytes.saturating_add(other.send_bytes),
            rdma_write_bytes: self.rdma_write_bytes.saturating_add(other.rdma_write_bytes),
            rdma_read_bytes: self.rdma_read_bytes.saturating_add(other.rdma_read_bytes),
            errors: self.errors.saturating_add(other.errors),
            flushed: self.flushed.saturating_add(other.flushed),
            registrations: self.registrations.saturating_add(other.registrations),
            invalidations: self.invalidations.saturating_add(other.invalidations),
        }
    }
}

/// `*counter += n`, saturating.
pub(super) fn bump(counter: &mut u64, n: u64) {
    *counter = counter.saturating_add(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_merged_and_bytes_moved() {
        let a = Counters {
            sends: 1,
            send_bytes: 10,
            rdma_read_bytes: 5,
            ..Counters::default()
        };
        let b = Counters {
            sends: 2,
            rdma_write_bytes: 7,
            errors: u64::MAX,
            ..Counters::default()
        };
        let m = a.merged(&b);
        assert_eq!(m.sends, 3);
        assert_eq!(m.bytes_moved(), 22);
        assert_eq!(m.merged(&b).errors, u64::MAX);
    }
}
