//! Receive coalescing on the TCP link: sleep until a quarter of the I/Os in flight can have been
//! answered (`SO_RCVLOWAT`), bounded by a short read timeout, instead of waking for every PDU.
//!
//! Waking once per answer costs the initiator a context switch per I/O, and on a loaded host it
//! takes the core from the target's event loop (tgt runs one). The threshold is a lower bound on
//! what the target sends without waiting for us, so in steady state the only cost is the wait
//! for the answers that complete the batch; when it is wrong (an error status is shorter than the
//! data it replaces) the read returns what it has after [`COALESCE_TIMEOUT`].

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use iser_core::wire::BHS_LEN;

/// Wake when answers for this fraction (1 / n) of the I/Os in flight can be in.
pub const IN_FLIGHT_DIVISOR: usize = 4;
/// The largest threshold asked of the socket (larger I/Os wake once per this many bytes).
pub const MAX_WAKE_BYTES: usize = 256 * 1024;
/// The longest a read waits for the threshold before returning what has arrived.
pub const COALESCE_TIMEOUT: Duration = Duration::from_millis(1);

/// The fewest bytes the target sends for one task before it needs anything from us: a read's
/// data and a BHS (Data-In, RFC 7143 §11.7; the status may ride on the last one, §11.7.1), or
/// one BHS for anything else (an R2T, §11.8, or the SCSI Response, §11.4).
pub fn answer_len(write: bool, read_len: u32) -> usize {
    if write {
        BHS_LEN
    } else {
        BHS_LEN.saturating_add(read_len as usize)
    }
}

/// Bytes worth waking for with `in_flight` tasks on the wire, none of which answers with fewer
/// than `smallest_answer` bytes; 0 when there is nothing to wait for.
pub fn wake_bytes(in_flight: usize, smallest_answer: usize) -> usize {
    if in_flight == 0 || smallest_answer == usize::MAX {
        return 0;
    }
    (in_flight / IN_FLIGHT_DIVISOR)
        .max(1)
        .saturating_mul(smallest_answer)
        .min(MAX_WAKE_BYTES)
}

/// Sets the socket's receive low-water mark: a blocking read returns once `bytes` have arrived,
/// or with what has arrived when the read timeout passes.
pub fn set_rcvlowat(stream: &TcpStream, bytes: usize) -> io::Result<()> {
    let value = libc::c_int::try_from(bytes.max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is an open socket owned by `stream`; the option value is a c_int
    // that lives across the call, and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn test_answer_len_counts_read_data_and_one_bhs() {
        assert_eq!(answer_len(false, 4096), 48 + 4096);
        assert_eq!(answer_len(true, 0), 48);
        assert_eq!(answer_len(false, 0), 48);
    }

    #[test]
    fn test_wake_bytes_waits_for_a_quarter_of_the_queue() {
        assert_eq!(wake_bytes(32, 4144), 8 * 4144);
        assert_eq!(wake_bytes(8, 4144), 2 * 4144);
        assert_eq!(wake_bytes(3, 4144), 4144);
        assert_eq!(wake_bytes(1, 4144), 4144);
    }

    #[test]
    fn test_wake_bytes_nothing_in_flight_or_unknown() {
        assert_eq!(wake_bytes(0, 4144), 0);
        assert_eq!(wake_bytes(5, usize::MAX), 0);
    }

    #[test]
    fn test_wake_bytes_is_capped() {
        assert_eq!(wake_bytes(8, 48 + (1 << 20)), MAX_WAKE_BYTES);
    }

    /// The behaviour the link relies on: a read waits for the mark, and after the read timeout
    /// returns the partial data rather than nothing.
    #[test]
    fn test_rcvlowat_read_waits_for_the_mark_then_returns_partial_data() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut tx = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut rx, _) = listener.accept().unwrap();
        set_rcvlowat(&rx, 100).unwrap();
        rx.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 256];

        tx.write_all(&[1u8; 50]).unwrap();
        let start = Instant::now();
        let n = rx.read(&mut buf).unwrap();
        assert_eq!(n, 50);
        assert!(
            start.elapsed() >= Duration::from_millis(250),
            "{:?}",
            start.elapsed()
        );

        tx.write_all(&[2u8; 100]).unwrap();
        let start = Instant::now();
        let n = rx.read(&mut buf).unwrap();
        assert_eq!(n, 100);
        assert!(
            start.elapsed() < Duration::from_millis(250),
            "{:?}",
            start.elapsed()
        );
    }
}
