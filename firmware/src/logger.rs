//! defmt global logger over semihosting stdout (defmt-semihosting covers Cortex-M only), and a
//! plain-text writer over semihosting stderr for the summary line CI greps.
//!
//! Frames are buffered and written with one `SYS_WRITE` each. The image is single-threaded and
//! uses no interrupts, so the logger state needs no lock beyond the re-entrancy flag.

// `*(&raw mut X)` instead of `X`: no reference to a `static mut` is ever formed implicitly.
#![allow(clippy::deref_addrof)]

use core::sync::atomic::{AtomicBool, Ordering};
use semihosting::io::{Stderr, Stdout};

static TAKEN: AtomicBool = AtomicBool::new(false);
static mut ENCODER: defmt::Encoder = defmt::Encoder::new();
static mut STDOUT: Option<Stdout> = None;
static mut FRAME: Frame = Frame {
    buf: [0; 512],
    len: 0,
};

struct Frame {
    buf: [u8; 512],
    len: usize,
}

/// Opens the semihosting stdout once; logging before this is dropped.
pub fn init() {
    if let Ok(out) = semihosting::io::stdout() {
        // SAFETY: single-threaded, no interrupts; nothing else holds a reference to STDOUT.
        unsafe { *(&raw mut STDOUT) = Some(out) };
    }
}

/// Writes out whatever is buffered.
pub fn flush() {
    // SAFETY: single-threaded, no interrupts; the logger is not active here.
    let frame = unsafe { &mut *(&raw mut FRAME) };
    // SAFETY: as above.
    if let Some(out) = unsafe { (*(&raw mut STDOUT)).as_mut() } {
        write_all(out, frame.buf.get(..frame.len).unwrap_or(&[]));
    }
    frame.len = 0;
}

fn put(bytes: &[u8]) {
    for chunk in bytes.chunks(128) {
        // SAFETY: only reached from the logger while TAKEN is held (single-threaded).
        let frame = unsafe { &mut *(&raw mut FRAME) };
        if frame.len.saturating_add(chunk.len()) > frame.buf.len() {
            flush();
        }
        // SAFETY: as above; `flush` has returned, no other reference is live.
        let frame = unsafe { &mut *(&raw mut FRAME) };
        let end = frame.len.saturating_add(chunk.len());
        if let Some(dst) = frame
            .buf
            .get_mut(frame.len..)
            .and_then(|d| d.get_mut(..chunk.len()))
        {
            dst.copy_from_slice(chunk);
            frame.len = end;
        }
    }
}

#[defmt::global_logger]
struct Logger;

// SAFETY: acquire/release bracket every frame; re-entrant acquisition (a log call while a
// frame is open, e.g. from the panic handler) is refused by the TAKEN flag.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        if TAKEN.swap(true, Ordering::Acquire) {
            return;
        }
        // SAFETY: TAKEN was false and is now ours.
        unsafe { (*(&raw mut ENCODER)).start_frame(put) }
    }

    unsafe fn flush() {
        flush();
    }

    unsafe fn release() {
        // SAFETY: called after acquire, TAKEN held.
        unsafe { (*(&raw mut ENCODER)).end_frame(put) };
        flush();
        TAKEN.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: called between acquire and release.
        unsafe { (*(&raw mut ENCODER)).write(bytes, put) }
    }
}

defmt::timestamp!("{=u64:us}", crate::platform::now_us());

/// Plain text to semihosting stderr (the summary line, readable without defmt-print).
pub struct Text(Option<Stderr>);

impl Text {
    /// Opens stderr (falls back to stdout inside the semihosting crate).
    pub fn stderr() -> Text {
        Text(semihosting::io::stderr().ok())
    }
}

/// Without `core::fmt` (its machinery is ~10 KiB of .text): strings and decimal numbers.
impl Text {
    /// Writes `s`.
    pub fn str(&mut self, s: &str) -> &mut Text {
        if let Some(e) = self.0.as_mut() {
            write_all(e, s.as_bytes());
        }
        self
    }

    /// Writes `n` in decimal.
    pub fn num(&mut self, n: u64) -> &mut Text {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = n;
        loop {
            at = at.saturating_sub(1);
            if let Some(d) = digits.get_mut(at) {
                *d = b'0'.saturating_add((n % 10) as u8);
            }
            n /= 10;
            if n == 0 || at == 0 {
                break;
            }
        }
        self.str(core::str::from_utf8(digits.get(at..).unwrap_or(&[])).unwrap_or("?"))
    }

    /// Writes `true` or `false`.
    pub fn flag(&mut self, b: bool) -> &mut Text {
        self.str(if b { "true" } else { "false" })
    }

    /// Writes ` key=` then `n`.
    pub fn kv(&mut self, key: &str, n: u64) -> &mut Text {
        self.str(" ").str(key).str("=").num(n)
    }
}

/// `write_all` without its `&buf[n..]`, whose index panic would link `core::fmt`'s number
/// formatting into the image (docs/firmware.md, size report); stops at the first error.
fn write_all<W: semihosting::io::Write>(out: &mut W, mut buf: &[u8]) {
    while !buf.is_empty() {
        match out.write(buf) {
            Ok(n) if n > 0 => buf = buf.get(n..).unwrap_or(&[]),
            _ => return,
        }
    }
}
