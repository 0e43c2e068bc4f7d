//! [`FileDevice`]: a [`BlockDevice`] over a file or block device with positioned I/O
//! (`pread`/`pwrite`), `fdatasync` for SYNCHRONIZE CACHE and Force Unit Access (SBC-3 §5.24,
//! §4.16), and hole punching for UNMAP on thin LUNs (SBC-3 §4.7). A file on a memory file
//! system is read and written through a shared mapping instead ([`Mapping`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::mapped::{self, Mapping};
use super::{BlockDevice, IoError, LbaStatus, Provisioning, StorageError};

/// A file-backed logical unit's storage.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    path: PathBuf,
    block_size: u32,
    num_blocks: u64,
    read_only: bool,
    thin: bool,
    physical_exponent: u8,
    /// Opened with O_DIRECT: I/O goes through an aligned bounce buffer.
    direct: bool,
    /// The device's bytes mapped, for a file on tmpfs or ramfs.
    map: Option<Mapping>,
}

/// Offset, length and buffer alignment O_DIRECT needs (the largest logical block size of
/// common devices).
const DIRECT_ALIGN: usize = 4096;

impl FileDevice {
    /// Opens `path` (creating it with `create_size` bytes when it does not exist and a size is
    /// given). The device covers the file's whole blocks.
    pub fn open(
        path: &Path,
        create_size: Option<u64>,
        block_size: u32,
        read_only: bool,
        thin: bool,
    ) -> Result<FileDevice, StorageError> {
        let fail = |verb: &'static str| {
            let path = path.to_path_buf();
            move |source: io::Error| StorageError { verb, path, source }
        };
        let exists = path.try_exists().map_err(fail("look up"))?;
        let mut file = if !exists {
            let Some(size) = create_size else {
                return Err(StorageError {
                    verb: "open",
                    path: path.to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::NotFound,
                        "no such file (give `size` in the configuration to create it)",
                    ),
                });
            };
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(fail("create"))?;
            f.set_len(size).map_err(fail("size"))?;
            log::info!("created {} ({} bytes)", path.display(), size);
            f
        } else {
            OpenOptions::new()
                .read(true)
                .write(!read_only)
                .open(path)
                .map_err(fail("open"))?
        };
        // Works for regular files and block devices alike (a block device's metadata length is 0).
        let len = file.seek(SeekFrom::End(0)).map_err(fail("measure"))?;
        let bs = u64::from(block_size.max(512));
        let num_blocks = len / bs;
        if num_blocks == 0 {
            return Err(StorageError {
                verb: "use",
                path: path.to_path_buf(),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{len} bytes is smaller than one {bs}-byte block"),
                ),
            });
        }
        if len % bs != 0 {
            log::warn!(
                "{}: {} trailing bytes past the last whole {bs}-byte block are not used",
                path.display(),
                len % bs
            );
        }
        // A thin LUN's holes would be filled by stores into the mapping, and a full tmpfs
        // answers that with SIGBUS instead of ENOSPC: only thick LUNs are mapped, and only
        // once every page of a writable one is allocated.
        let map = if !thin && mapped::on_memory_fs(&file) {
            let bytes = num_blocks.saturating_mul(bs);
            mapped::map_allocated(&file, bytes, !read_only)
                .map_err(|e| log::warn!("{}: not mapped ({e}); pread/pwrite", path.display()))
                .ok()
        } else {
            None
        };
        Ok(FileDevice {
            file,
            path: path.to_path_buf(),
            block_size: block_size.max(512),
            num_blocks,
            read_only,
            thin,
            physical_exponent: 0,
            direct: false,
            map,
        })
    }

    /// Whether reads and writes go through a shared mapping (a thick LUN on tmpfs or ramfs).
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    /// Reports 2^`exponent` logical blocks per physical block (a larger physical block).
    pub fn set_physical_exponent(&mut self, exponent: u8) {
        self.physical_exponent = exponent.min(15);
    }

    /// Reopens the file with O_DIRECT (the page cache is bypassed). Fails on file systems
    /// that refuse it (tmpfs).
    pub fn set_direct(&mut self) -> Result<(), StorageError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .read(true)
            .write(!self.read_only)
            .custom_flags(libc::O_DIRECT)
            .open(&self.path)
            .map_err(|source| StorageError {
                verb: "open with O_DIRECT",
                path: self.path.clone(),
                source,
            })?;
        self.file = file;
        self.direct = true;
        self.map = None;
        Ok(())
    }

    /// Reads or writes `[offset, offset + len)` through an aligned bounce buffer covering the
    /// aligned range around it: `patch` gets the bounce buffer's bytes for the range (after the
    /// covering blocks were read) and, for writes, changes them before they are written back.
    fn direct_io(
        &self,
        offset: u64,
        len: usize,
        write: bool,
        patch: &mut dyn FnMut(&mut [u8]),
    ) -> io::Result<()> {
        let align = DIRECT_ALIGN as u64;
        let start = offset - offset % align;
        let end = offset
            .saturating_add(len as u64)
            .div_ceil(align)
            .saturating_mul(align);
        let span = usize::try_from(end - start).map_err(io::Error::other)?;
        let mut raw = vec![0u8; span + DIRECT_ALIGN];
        let shift = raw.as_ptr().align_offset(DIRECT_ALIGN);
        let bounce = raw
            .get_mut(shift..shift + span)
            .ok_or_else(|| io::Error::other("bounce buffer"))?;
        // The last aligned block may run past the end of the file: read what is there.
        let mut got = 0usize;
        while got < span {
            let Some(rest) = bounce.get_mut(got..) else {
                break;
            };
            match self.file.read_at(rest, start + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let head = usize::try_from(offset - start).map_err(io::Error::other)?;
        let range = bounce
            .get_mut(head..head + len)
            .ok_or_else(|| io::Error::other("short read under O_DIRECT"))?;
        patch(range);
        if write {
            // Up to the file's end (whole 512-byte sectors), never past it.
            let upto = got.max(head + len).next_multiple_of(512).min(span);
            let whole = bounce.get(..upto).unwrap_or_default();
            self.file.write_all_at(whole, start)?;
        }
        Ok(())
    }

    /// The path the device was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn fail(&self, verb: &str, offset: u64, e: &io::Error) -> IoError {
        log::warn!(
            "{}: {verb} at byte {offset} failed: {e}",
            self.path.display()
        );
        io_error(e)
    }

    fn sync(&self) -> Result<(), IoError> {
        self.file
            .sync_data()
            .map_err(|e| self.fail("fdatasync", 0, &e))
    }

    /// Frees `len` bytes at `offset` (FALLOC_FL_PUNCH_HOLE keeping the size); writes zeros when
    /// the file system cannot punch holes.
    fn punch_hole(&self, offset: u64, len: u64) -> Result<(), IoError> {
        use std::os::fd::AsRawFd;
        let (Ok(off), Ok(n)) = (libc::off_t::try_from(offset), libc::off_t::try_from(len)) else {
            return Err(IoError::OutOfRange);
        };
        // SAFETY: fallocate only reads its integer arguments; the descriptor is owned by
        // `self.file` and open for the duration of the call.
        let rc = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off,
                n,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
            return Err(self.fail("punch hole", offset, &e));
        }
        let zeros = vec![0u8; 1 << 20];
        let mut at = offset;
        let end = offset.saturating_add(len);
        while at < end {
            let n = usize::try_from(end.saturating_sub(at))
                .unwrap_or(usize::MAX)
                .min(zeros.len());
            let chunk = zeros.get(..n).ok_or(IoError::Other)?;
            self.file
                .write_all_at(chunk, at)
                .map_err(|e| self.fail("write zeros", at, &e))?;
            at = at.saturating_add(u64::try_from(n).unwrap_or(u64::MAX));
        }
        Ok(())
    }

    fn check(&self, offset: u64, len: u64) -> Result<(), IoError> {
        let end = offset.checked_add(len).ok_or(IoError::OutOfRange)?;
        if end > self.num_blocks.saturating_mul(u64::from(self.block_size)) {
            return Err(IoError::OutOfRange);
        }
        Ok(())
    }
}

impl FileDevice {
    /// `lseek(offset, whence)` for SEEK_DATA / SEEK_HOLE: `Ok(None)` when there is no data
    /// at or after `offset` (ENXIO).
    fn seek(&self, offset: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
        let off = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: lseek only reads its integer arguments; the descriptor is owned by
        // `self.file` and open for the duration of the call. Positioned I/O elsewhere does not
        // depend on the file offset it moves.
        let r = unsafe { libc::lseek(std::os::fd::AsRawFd::as_raw_fd(&self.file), off, whence) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                return Ok(None);
            }
            return Err(e);
        }
        Ok(u64::try_from(r).ok())
    }
}

/// Maps an OS error to the SCSI-facing [`IoError`].
fn io_error(e: &io::Error) -> IoError {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => IoError::NoSpace,
        Some(libc::EIO) | Some(libc::ENXIO) => IoError::Medium,
        _ if e.kind() == io::ErrorKind::UnexpectedEof => IoError::Medium,
        _ => IoError::Other,
    }
}

impl BlockDevice for FileDevice {
    fn block_size(&self) -> u32 {
        self.block_size
    }

    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }

    fn read_at(&mut self, byte_offset: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.check(byte_offset, u64::try_from(buf.len()).unwrap_or(u64::MAX))?;
        if let Some(map) = &self.map {
            return map
                .read(byte_offset, buf)
                .then_some(())
                .ok_or(IoError::OutOfRange);
        }
        if self.direct {
            let len = buf.len();
            return self
                .direct_io(byte_offset, len, false, &mut |b| buf.copy_from_slice(b))
                .map_err(|e| self.fail("read", byte_offset, &e));
        }
        self.file
            .read_exact_at(buf, byte_offset)
            .map_err(|e| self.fail("read", byte_offset, &e))
    }

    fn write_at(&mut self, byte_offset: u64, data: &[u8], fua: bool) -> Result<(), IoError> {
        if self.read_only {
            return Err(IoError::Other);
        }
        self.check(byte_offset, u64::try_from(data.len()).unwrap_or(u64::MAX))?;
        if let Some(map) = &mut self.map {
            if !map.write(byte_offset, data) {
                return Err(IoError::OutOfRange);
            }
        } else if self.direct {
            self.direct_io(byte_offset, data.len(), true, &mut |b| {
                b.copy_from_slice(data)
            })
            .map_err(|e| self.fail("write", byte_offset, &e))?;
        } else {
            self.file
                .write_all_at(data, byte_offset)
                .map_err(|e| self.fail("write", byte_offset, &e))?;
        }
        if fua {
            self.sync()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), IoError> {
        if self.read_only {
            return Ok(());
        }
        self.sync()
    }

    fn write_protected(&self) -> bool {
        self.read_only
    }

    fn physical_block_exponent(&self) -> u8 {
        self.physical_exponent
    }

    fn provisioning(&self) -> Provisioning {
        if self.thin {
            Provisioning::Thin { lbprz: true }
        } else {
            Provisioning::Full
        }
    }

    fn discard(&mut self, byte_offset: u64, len: u64) -> Result<(), IoError> {
        if !self.thin {
            return Err(IoError::Unsupported);
        }
        if self.read_only {
            return Err(IoError::Other);
        }
        self.check(byte_offset, len)?;
        self.punch_hole(byte_offset, len)
    }

    /// Thin files: holes are deallocated, data extents mapped (`lseek` SEEK_HOLE/SEEK_DATA;
    /// a file system without them reports everything mapped).
    fn lba_status(&mut self, lba: u64, max_blocks: u64) -> Result<(LbaStatus, u64), IoError> {
        let bs = u64::from(self.block_size);
        let left = self.num_blocks.saturating_sub(lba);
        let max_blocks = max_blocks.clamp(1, left.max(1));
        if !self.thin {
            return Ok((LbaStatus::Mapped, max_blocks));
        }
        let off = lba.saturating_mul(bs);
        let end = self.num_blocks.saturating_mul(bs);
        let blocks = |bytes: u64| bytes.div_ceil(bs).clamp(1, max_blocks);
        match self.seek(off, libc::SEEK_DATA) {
            // Data from here: mapped up to the next hole.
            Ok(Some(d)) if d <= off => {
                let hole = self
                    .seek(off, libc::SEEK_HOLE)
                    .ok()
                    .flatten()
                    .unwrap_or(end);
                Ok((LbaStatus::Mapped, blocks(hole.min(end).saturating_sub(off))))
            }
            // A hole up to the next data, or to the end.
            Ok(Some(d)) => Ok((
                LbaStatus::Deallocated,
                blocks(d.min(end).saturating_sub(off)),
            )),
            Ok(None) => Ok((LbaStatus::Deallocated, blocks(end.saturating_sub(off)))),
            Err(_) => Ok((LbaStatus::Mapped, max_blocks)),
        }
    }
}
