//! [`Mapping`]: a file on a memory file system (tmpfs, ramfs) mapped shared into the daemon, so
//! a logical unit's reads and writes are copies to and from its pages, without a `pread` or
//! `pwrite` system call each. Only memory file systems: there the page cache is the storage, so
//! no I/O error can turn into SIGBUS and the data needs no `msync`. (Truncating a LUN's file
//! under the running daemon would still fault where `pread` would fail: the daemon owns its
//! LUN files.)

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::{self, NonNull};

/// `statfs` magic numbers of the memory file systems (linux/magic.h).
const TMPFS_MAGIC: i64 = 0x0102_1994;
const RAMFS_MAGIC: i64 = 0x8584_58f6;

/// Whether `file` is a regular file on tmpfs or ramfs.
pub fn on_memory_fs(file: &File) -> bool {
    let Ok(meta) = file.metadata() else {
        return false;
    };
    if !meta.file_type().is_file() {
        return false;
    }
    // SAFETY: all-zero is a valid `statfs` (plain integers).
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatfs writes into `st`, a valid out-pointer; the descriptor is open.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between architectures
    let kind = st.f_type as i64;
    kind == TMPFS_MAGIC || kind == RAMFS_MAGIC
}

/// The first `len` bytes of `file` mapped; a writable mapping only after `fallocate` has
/// given every page its memory, so no store into it can meet a full file system (SIGBUS).
pub fn map_allocated(file: &File, len: u64, writable: bool) -> io::Result<Mapping> {
    let bytes = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    if writable {
        let end =
            libc::off_t::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: plain system call on an open descriptor; mode 0 allocates without changing
        // the file's contents or (within its size) its length.
        if unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, end) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Mapping::new(file, bytes, writable)
}

/// `len` bytes of a file mapped shared (writable unless read-only).
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value alone; the pages have no thread affinity and
// every access goes through `&self`/`&mut self` copies.
unsafe impl Send for Mapping {}
// SAFETY: as above; `read` only copies out of the pages.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Maps the first `len` bytes of `file` (`len > 0`, within the file).
    pub fn new(file: &File, len: usize, writable: bool) -> io::Result<Mapping> {
        if len == 0 {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let prot = if writable {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: a fresh shared mapping of an open descriptor at an address the kernel picks;
        // nothing else refers to that range.
        let raw = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                prot,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or_else(|| io::Error::other("mmap"))?;
        Ok(Mapping { ptr, len })
    }

    /// Whether `[offset, offset + len)` lies in the mapping; its start then.
    fn at(&self, offset: u64, len: usize) -> Option<usize> {
        let start = usize::try_from(offset).ok()?;
        (start.checked_add(len)? <= self.len).then_some(start)
    }

    /// Copies the bytes at `offset` into `buf`; `false` when the range is outside the mapping.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> bool {
        let Some(start) = self.at(offset, buf.len()) else {
            return false;
        };
        // SAFETY: `start..start + buf.len()` lies in the mapping (checked), which lives as long
        // as `self`; `buf` is a distinct allocation. No reference to the mapped bytes is made:
        // another process may write the file at the same time.
        unsafe {
            ptr::copy_nonoverlapping(self.ptr.as_ptr().add(start), buf.as_mut_ptr(), buf.len())
        };
        true
    }

    /// Copies `data` to `offset`; `false` when the range is outside the mapping. The mapping
    /// must be writable.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> bool {
        let Some(start) = self.at(offset, data.len()) else {
            return false;
        };
        // SAFETY: as in `read`, the other way round; the mapping was made writable (the caller
        // never writes a read-only device).
        unsafe {
            ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr().add(start), data.len())
        };
        true
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range is the one `mmap` returned, unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn copies_through_the_file_pages() {
        let dir = std::env::temp_dir().join(format!("iserd-mapped-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&dir)
            .unwrap();
        file.set_len(8192).unwrap();
        file.write_all_at(b"pread", 100).unwrap();
        let mut m = Mapping::new(&file, 8192, true).unwrap();
        let mut got = [0u8; 5];
        assert!(m.read(100, &mut got));
        assert_eq!(&got, b"pread");
        assert!(m.write(4096, b"mapped"));
        let mut back = [0u8; 6];
        file.read_exact_at(&mut back, 4096).unwrap();
        assert_eq!(&back, b"mapped");
        // Past the end: refused, nothing copied.
        assert!(!m.read(8190, &mut got));
        assert!(!m.write(u64::MAX, b"x"));
        drop(m);
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn a_writable_mapping_has_every_page_allocated() {
        let shm = std::path::Path::new("/dev/shm");
        if !shm.is_dir() {
            return;
        }
        use std::os::unix::fs::MetadataExt;
        let path = shm.join(format!("iserd-mapped-alloc-{}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        file.set_len(1 << 20).unwrap();
        assert_eq!(
            file.metadata().unwrap().blocks(),
            0,
            "a sparse file to begin with"
        );
        let m = map_allocated(&file, 1 << 20, true).unwrap();
        assert!(file.metadata().unwrap().blocks() * 512 >= 1 << 20);
        drop(m);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn knows_a_memory_file_system() {
        let shm = std::path::Path::new("/dev/shm");
        if !shm.is_dir() {
            return;
        }
        let path = shm.join(format!("iserd-mapped-{}", std::process::id()));
        let file = File::create(&path).unwrap();
        assert!(on_memory_fs(&file));
        std::fs::remove_file(&path).unwrap();
        let dir = File::open("/").unwrap();
        assert!(!on_memory_fs(&dir));
    }
}
