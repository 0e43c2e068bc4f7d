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

/// The receive low-water mark with `in_flight` tasks on the wire, none of which answers with
/// fewer than `smallest_answer` bytes, and `buffered` bytes of a PDU already read: the answers of
/// a quarter of the tasks, as many as fit in a quarter of the `rcvbuf`-byte receive buffer, and 1
/// (wake for any byte) when not even one fits. The cap matters: for a larger mark Linux grows the
/// buffer and clamps the receive window to the mark (`tcp_set_rcvlowat`), and large answers gain
/// nothing from coalescing.
pub fn lowat(in_flight: usize, smallest_answer: usize, buffered: usize, rcvbuf: usize) -> usize {
    if smallest_answer == 0 {
        return 1;
    }
    let answers = (in_flight / IN_FLIGHT_DIVISOR)
        .max(1)
        .min(in_flight)
        .min(rcvbuf / 4 / smallest_answer);
    answers
        .saturating_mul(smallest_answer)
        .saturating_sub(buffered)
        .max(1)
}

/// The socket's receive buffer size (`SO_RCVBUF`); autotuning only grows it.
pub fn rcvbuf(stream: &TcpStream) -> io::Result<usize> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the descriptor is an open socket owned by `stream`; `value` and `len` outlive the
    // call and `len` holds the size of `value`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(usize::try_from(value).unwrap_or(0))
    } else {
        Err(io::Error::last_os_error())
    }
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

    const BUF: usize = 1 << 20;

    #[test]
    fn test_lowat_waits_for_a_quarter_of_the_queue() {
        assert_eq!(lowat(32, 4144, 0, BUF), 8 * 4144);
        assert_eq!(lowat(8, 4144, 0, BUF), 2 * 4144);
        assert_eq!(lowat(3, 4144, 0, BUF), 4144);
        assert_eq!(lowat(1, 4144, 0, BUF), 4144);
    }

    #[test]
    fn test_lowat_subtracts_buffered_bytes() {
        assert_eq!(lowat(32, 4144, 1000, BUF), 8 * 4144 - 1000);
        assert_eq!(lowat(1, 4144, 5000, BUF), 1);
    }

    #[test]
    fn test_lowat_nothing_in_flight_or_unknown() {
        assert_eq!(lowat(0, 4144, 0, BUF), 1);
        assert_eq!(lowat(5, usize::MAX, 0, BUF), 1);
        assert_eq!(lowat(5, 0, 0, BUF), 1);
    }

    #[test]
    fn test_lowat_fits_whole_answers_in_a_quarter_of_the_buffer() {
        assert_eq!(lowat(32, 4144, 0, 131_072), 7 * 4144);
        assert_eq!(lowat(8, 48 + 65_536, 0, 131_072), 1);
        assert_eq!(lowat(8, 48 + (1 << 20), 0, BUF), 1);
        assert_eq!(lowat(32, 4144, 0, 0), 1);
    }

    /// The cap keeps Linux from growing the buffer (and clamping the window) for the mark.
    #[test]
    fn test_lowat_cap_leaves_the_receive_buffer_alone() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _tx = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (rx, _) = listener.accept().unwrap();
        let before = rcvbuf(&rx).unwrap();
        assert!(before > 0);
        set_rcvlowat(&rx, lowat(usize::MAX, 48, 0, before)).unwrap();
        assert_eq!(rcvbuf(&rx).unwrap(), before);
        set_rcvlowat(&rx, before).unwrap();
        assert!(
            rcvbuf(&rx).unwrap() > before,
            "an uncapped mark grows the buffer"
        );
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
