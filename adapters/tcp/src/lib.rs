//! iSCSI/TCP (RFC 7143) for the sans-IO target engine: moves bytes between an
//! [`embedded_io`] stream and a [`TargetConn`], in caller-provided buffers. `no_std`, no
//! allocation: the same code serves a std socket (through `embedded-io-adapters`) in the daemon
//! and a smoltcp socket in firmware.
//!
//! The caller's loop: [`TcpLink::read_from`] when input is due (with whatever read timeout its
//! platform offers, from [`TargetConn::poll_timeout`]), then [`TcpLink::process_input`], then
//! [`TcpLink::flush_to`], until [`TargetConn::is_closed`].
#![no_std]
#![forbid(unsafe_code)]

use embedded_io::{Read, ReadExactError, Write};
use iser_core::session::{TargetBackend, TargetConn, Transmit};
use iser_core::time::Instant;
use iser_core::wire::BHS_LEN;

/// Why the link stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError<E> {
    /// The peer closed the stream.
    Eof,
    /// The next PDU does not fit the receive buffer (the peer announced more than any PDU we
    /// negotiated can hold).
    PduTooLarge {
        /// Bytes the PDU needs.
        needed: usize,
        /// Bytes the buffer holds.
        capacity: usize,
    },
    /// The engine needs a larger transmit buffer than the caller gave.
    TxBufferTooSmall {
        /// Bytes the PDU needs.
        needed: usize,
    },
    /// The stream failed.
    Io(E),
}

/// One connection's buffers: received bytes not yet consumed, and a transmit batch.
#[derive(Debug)]
pub struct TcpLink<'b> {
    rx: &'b mut [u8],
    rx_start: usize,
    rx_end: usize,
    tx: &'b mut [u8],
}

impl<'b> TcpLink<'b> {
    /// A link over `rx` (at least the largest PDU the engine accepts:
    /// [`TargetConn::max_rx_pdu_len`]) and `tx` (a batch of output; at least the largest PDU the
    /// engine sends, bigger batches mean fewer writes).
    pub fn new(rx: &'b mut [u8], tx: &'b mut [u8]) -> Self {
        TcpLink {
            rx,
            rx_start: 0,
            rx_end: 0,
            tx,
        }
    }

    /// Bytes received and not yet consumed.
    pub fn buffered(&self) -> usize {
        self.rx_end.saturating_sub(self.rx_start)
    }

    /// Feeds every whole buffered PDU to the engine; returns whether any was consumed.
    pub fn process_input<B: TargetBackend, const T: usize>(
        &mut self,
        engine: &mut TargetConn<T>,
        backend: &mut B,
        now: Instant,
    ) -> bool {
        let mut any = false;
        while let Some(bytes) = self.rx.get(self.rx_start..self.rx_end) {
            if bytes.is_empty() {
                break;
            }
            let n = engine.handle_bytes(bytes, backend, now);
            if n == 0 {
                break;
            }
            any = true;
            self.rx_start = self.rx_start.saturating_add(n).min(self.rx_end);
        }
        if self.rx_start == self.rx_end {
            self.rx_start = 0;
            self.rx_end = 0;
        }
        any
    }

    /// Whether the buffered bytes already hold the next whole PDU.
    pub fn input_ready<const T: usize>(&self, engine: &TargetConn<T>) -> bool {
        let buffered = self.buffered();
        buffered > 0 && buffered >= engine.rx_needed()
    }

    /// Reads once from `stream` into free buffer space (compacting first when the next PDU
    /// would not fit); returns the bytes read. An `Ok(0)` from the stream is [`LinkError::Eof`].
    pub fn read_from<R: Read, const T: usize>(
        &mut self,
        stream: &mut R,
        engine: &TargetConn<T>,
    ) -> Result<usize, LinkError<R::Error>> {
        let need = engine.rx_needed().max(BHS_LEN);
        if need > self.rx.len() {
            return Err(LinkError::PduTooLarge {
                needed: need,
                capacity: self.rx.len(),
            });
        }
        if self.rx.len().saturating_sub(self.rx_start) < need || self.rx_end == self.rx.len() {
            self.rx.copy_within(self.rx_start..self.rx_end, 0);
            self.rx_end = self.rx_end.saturating_sub(self.rx_start);
            self.rx_start = 0;
        }
        let Some(room) = self.rx.get_mut(self.rx_end..) else {
            return Ok(0);
        };
        match stream.read(room) {
            Ok(0) => Err(LinkError::Eof),
            Ok(n) => {
                self.rx_end = self.rx_end.saturating_add(n).min(self.rx.len());
                Ok(n)
            }
            Err(e) => Err(LinkError::Io(e)),
        }
    }

    /// Writes everything the engine has to send, batching PDUs into the transmit buffer so a
    /// burst of responses costs one write.
    pub fn flush_to<W: Write, B: TargetBackend, const T: usize>(
        &mut self,
        stream: &mut W,
        engine: &mut TargetConn<T>,
        backend: &mut B,
        now: Instant,
    ) -> Result<(), LinkError<W::Error>> {
        let mut len = 0usize;
        while let Some(room) = self.tx.get_mut(len..) {
            match engine.poll_transmit(backend, now, room) {
                Transmit::Written(0) | Transmit::Idle => break,
                Transmit::Written(n) => len = len.saturating_add(n).min(self.tx.len()),
                Transmit::NeedSpace(needed) => {
                    if len == 0 {
                        return Err(LinkError::TxBufferTooSmall { needed });
                    }
                    self.write_out(stream, len)?;
                    len = 0;
                }
            }
        }
        if len > 0 {
            self.write_out(stream, len)?;
        }
        stream.flush().map_err(LinkError::Io)
    }

    fn write_out<W: Write>(&self, stream: &mut W, len: usize) -> Result<(), LinkError<W::Error>> {
        let data = self.tx.get(..len).unwrap_or_default();
        stream.write_all(data).map_err(LinkError::Io)
    }
}

impl<E> From<ReadExactError<E>> for LinkError<E> {
    fn from(e: ReadExactError<E>) -> Self {
        match e {
            ReadExactError::UnexpectedEof => LinkError::Eof,
            ReadExactError::Other(e) => LinkError::Io(e),
        }
    }
}
