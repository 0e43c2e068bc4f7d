//! File backend: create-if-missing, read/write/flush round trips, FUA, read-only, punch-hole
//! discard, in a temporary directory.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use iserd::config::{Backing, LunConfig};
use iserd::storage::{BlockDevice, Device, FileDevice, IoError, Provisioning};

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("iserd-storage");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn file_round_trip_and_flush() {
    let path = tmp("rw.img");
    let mut d = FileDevice::open(&path, Some(4 << 20), 512, false, false).unwrap();
    assert_eq!(d.num_blocks(), (4 << 20) / 512);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 4 << 20);
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    d.write_at(1000, &data, false).unwrap();
    d.write_at(3 << 20, &data[..512], true).unwrap();
    d.flush().unwrap();
    let mut back = vec![0u8; data.len()];
    d.read_at(1000, &mut back).unwrap();
    assert_eq!(back, data);
    drop(d);
    // Reopening sees the data; the size comes from the file.
    let mut d = FileDevice::open(&path, None, 4096, false, false).unwrap();
    assert_eq!(d.num_blocks(), (4 << 20) / 4096);
    let mut back = vec![0u8; 512];
    d.read_at(3 << 20, &mut back).unwrap();
    assert_eq!(back, data[..512]);
    assert_eq!(d.read_at(4 << 20, &mut [0u8; 1]), Err(IoError::OutOfRange));
    assert_eq!(d.discard(0, 4096), Err(IoError::Unsupported));
}

#[test]
fn direct_io_round_trips_unaligned_pieces_and_matches_the_file() {
    // A file size that is a multiple of 512 but not of 4096, so the last aligned block runs
    // past the end of the file.
    let path = tmp("direct.img");
    let size = (4 << 20) + 1536;
    let mut d = FileDevice::open(&path, Some(size), 512, false, false).unwrap();
    if let Err(e) = d.set_direct() {
        eprintln!("O_DIRECT not supported here, skipping: {e}");
        return;
    }
    let data: Vec<u8> = (0..70_001u32).map(|i| (i * 13 % 251) as u8).collect();
    d.write_at(777, &data, false).unwrap();
    d.write_at(size - 512, &data[..512], true).unwrap();
    let mut back = vec![0u8; data.len()];
    d.read_at(777, &mut back).unwrap();
    assert_eq!(back, data);
    let mut tail = vec![0u8; 512];
    d.read_at(size - 512, &mut tail).unwrap();
    assert_eq!(tail, data[..512]);
    d.flush().unwrap();
    drop(d);
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        size,
        "O_DIRECT never grows the file"
    );
    let file = std::fs::read(&path).unwrap();
    assert_eq!(&file[777..777 + data.len()], &data[..]);
    assert!(
        file[..777].iter().all(|&b| b == 0),
        "bytes around the write are kept"
    );
}

#[test]
fn missing_file_without_size_is_an_error() {
    let path = tmp("missing.img");
    let e = FileDevice::open(&path, None, 512, false, false).unwrap_err();
    assert_eq!(e.verb, "open");
    assert!(e.to_string().contains("missing.img"), "{e}");
}

#[test]
fn too_small_file_is_an_error() {
    let path = tmp("small.img");
    std::fs::write(&path, [0u8; 100]).unwrap();
    assert!(FileDevice::open(&path, None, 512, false, false).is_err());
}

#[test]
fn read_only_file() {
    let path = tmp("ro.img");
    std::fs::write(&path, vec![5u8; 8192]).unwrap();
    let mut d = FileDevice::open(&path, None, 512, true, false).unwrap();
    assert!(d.write_protected());
    assert!(d.write_at(0, &[1], false).is_err());
    let mut b = [0u8; 16];
    d.read_at(0, &mut b).unwrap();
    assert_eq!(b, [5u8; 16]);
    d.flush().unwrap();
}

#[test]
fn thin_file_discard_reads_zeros() {
    let path = tmp("thin.img");
    let mut d = FileDevice::open(&path, Some(1 << 20), 4096, false, true).unwrap();
    assert_eq!(d.provisioning(), Provisioning::Thin { lbprz: true });
    d.write_at(0, &vec![0xaa; 64 << 10], false).unwrap();
    d.discard(16 << 10, 32 << 10).unwrap();
    let mut b = vec![0u8; 64 << 10];
    d.read_at(0, &mut b).unwrap();
    assert!(b[..16 << 10].iter().all(|x| *x == 0xaa));
    assert!(b[16 << 10..48 << 10].iter().all(|x| *x == 0));
    assert!(b[48 << 10..].iter().all(|x| *x == 0xaa));
}

#[test]
fn device_opens_from_lun_config() {
    let mut ram = Device::open(&LunConfig::ram(0, 1 << 20)).unwrap();
    assert_eq!(ram.num_blocks(), 2048);
    ram.write_at(512, b"hello", false).unwrap();
    let mut b = [0u8; 5];
    ram.read_at(512, &mut b).unwrap();
    assert_eq!(&b, b"hello");
    let path = tmp("dev.img");
    let mut lun = LunConfig::file(1, path.clone());
    lun.backing = Backing::File {
        path,
        create_size: Some(1 << 20),
    };
    let file = Device::open(&lun).unwrap();
    assert_eq!(file.block_size(), 512);
    assert!(matches!(file, Device::File(_)));
}

#[test]
fn only_thick_luns_on_a_memory_file_system_are_mapped() {
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() {
        return;
    }
    let thick = shm.join(format!("iserd-map-thick-{}", std::process::id()));
    let thin = shm.join(format!("iserd-map-thin-{}", std::process::id()));
    let mut d = FileDevice::open(&thick, Some(1 << 20), 512, false, false).unwrap();
    assert!(d.is_mapped());
    d.write_at(4096, &[7u8; 512], false).unwrap();
    let mut back = [0u8; 512];
    d.read_at(4096, &mut back).unwrap();
    assert_eq!(back, [7u8; 512]);
    assert_eq!(std::fs::read(&thick).unwrap()[4096..4608], [7u8; 512]);
    let t = FileDevice::open(&thin, Some(1 << 20), 512, false, true).unwrap();
    assert!(
        !t.is_mapped(),
        "a store into a thin LUN's hole could meet a full tmpfs"
    );
    drop((d, t));
    std::fs::remove_file(&thick).unwrap();
    std::fs::remove_file(&thin).unwrap();
}
