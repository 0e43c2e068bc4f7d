//! INQUIRY, VPD, READ CAPACITY and MODE SENSE data.

use super::*;

fn inquiry(lu: &mut TestLu, evpd: bool, page: u8, alloc: u16) -> (Vec<u8>, Completion) {
    let a = alloc.to_be_bytes();
    run(
        lu,
        &[0x12, u8::from(evpd), page, a[0], a[1], 0],
        u32::from(alloc),
        &[],
    )
}

#[test]
fn test_inquiry_standard() {
    let mut lu = lu();
    let (d, c) = inquiry(&mut lu, false, 0, 260);
    assert!(c.is_good());
    assert_eq!(d.len(), 96);
    assert_eq!(c.residual, Residual::Under(260 - 96));
    assert_eq!(d[0], 0, "connected direct-access device");
    assert_eq!(d[2], 6, "SPC-4");
    assert_eq!(d[3] & 0x0f, 2, "response data format");
    assert_eq!(usize::from(d[4]) + 5, d.len());
    assert_eq!(d[3] & 0xc0, 0, "no AERC/TRMTSK");
    assert_eq!(&d[8..16], b"ISER-RS ");
    assert!(d[8..36].iter().all(|b| (0x20..0x7f).contains(b)));
    let descs: Vec<u16> = d[58..74]
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    assert!(descs.contains(&0x04c0), "claims SBC-3");
    assert!(descs.contains(&0x0460), "claims SPC-4");
}

#[test]
fn test_inquiry_every_allocation_length() {
    let mut lu = lu();
    let (full, _) = inquiry(&mut lu, false, 0, 96);
    for alloc in 0..300u16 {
        let (d, c) = inquiry(&mut lu, false, 0, alloc);
        assert!(c.is_good());
        let n = usize::from(alloc).min(96);
        assert_eq!(d, full[..n]);
        assert_eq!(c.residual, Residual::of(n as u64, u32::from(alloc)));
    }
    // The iSCSI expected length can be smaller than the allocation length.
    let (d, c) = run(&mut lu, &[0x12, 0, 0, 0, 255, 0], 10, &[]);
    assert_eq!(d, full[..10]);
    assert_eq!(c.residual, Residual::Over(86));
}

#[test]
fn test_inquiry_page_code_without_evpd() {
    let mut lu = lu();
    let c = inquiry(&mut lu, false, 1, 256).1;
    assert_invalid_field(&c, 2);
    let c = inquiry(&mut lu, true, 0x42, 255).1;
    assert_invalid_field(&c, 2);
}

#[test]
fn test_vpd_supported_pages_sorted_and_all_work() {
    let mut lu = lu();
    let (d, c) = inquiry(&mut lu, true, 0, 255);
    assert!(c.is_good());
    let n = usize::from(d[3]);
    let pages = &d[4..4 + n];
    assert!(pages.windows(2).all(|w| w[0] < w[1]));
    for &p in pages {
        let (d, c) = inquiry(&mut lu, true, p, 255);
        assert!(c.is_good(), "page {p:#x}");
        assert_eq!(d[1], p);
        let len = usize::from(u16::from_be_bytes([d[2], d[3]]));
        assert_eq!(len + 4, d.len(), "page {p:#x} length");
    }
}

#[test]
fn test_vpd_serial_and_device_identification() {
    let mut lu = lu();
    let (d, _) = inquiry(&mut lu, true, 0x80, 255);
    assert_eq!(&d[4..], b"1122334455667788");
    let (d, _) = inquiry(&mut lu, true, 0x83, 512);
    let mut rest = &d[4..];
    let mut seen = Vec::new();
    while !rest.is_empty() {
        let len = usize::from(rest[3]);
        let (desc, tail) = rest.split_at(4 + len);
        seen.push((desc[1] & 0x30, desc[1] & 0x0f, desc[0] & 0x0f));
        if desc[1] & 0x0f == 3 {
            assert_eq!(len, 16);
            assert_eq!(desc[4] >> 4, 6, "NAA 6");
            assert_eq!(&desc[12..20], &0x1122_3344_5566_7788u64.to_be_bytes());
        }
        if desc[1] & 0x0f == 8 {
            assert_eq!(len % 4, 0);
            assert_eq!(*desc.last().unwrap(), 0, "NUL terminated");
            if desc[1] & 0x30 == 0x10 {
                let s = core::str::from_utf8(&desc[4..]).unwrap();
                assert!(
                    s.starts_with("iqn.2024-01.rs.iser:target,t,0x0001\0"),
                    "{s}"
                );
            }
        }
        rest = tail;
    }
    // (association, designator type, code set)
    assert!(seen.contains(&(0x00, 3, 1)), "NAA");
    assert!(seen.contains(&(0x00, 1, 2)), "T10 vendor id");
    assert!(seen.contains(&(0x10, 4, 1)), "relative target port");
    assert!(seen.contains(&(0x10, 5, 1)), "target port group");
    assert!(seen.contains(&(0x10, 8, 3)), "target port name");
    assert!(seen.contains(&(0x20, 8, 3)), "target device name");
}

#[test]
fn test_vpd_block_limits_and_characteristics() {
    let mut lu = lu();
    let (d, _) = inquiry(&mut lu, true, 0xb0, 255);
    assert_eq!(d.len(), 64);
    assert_eq!(d[3], 0x3c);
    assert_eq!(u32::from_be_bytes(d[8..12].try_into().unwrap()), 65535);
    let (d, _) = inquiry(&mut lu, true, 0xb1, 255);
    assert_eq!(u16::from_be_bytes([d[4], d[5]]), 1, "non-rotating");
    let (d, _) = inquiry(&mut lu, true, 0xb2, 255);
    assert_eq!(d[5] & 0x80, 0, "no LBPU on a fully provisioned disk");
}

#[test]
fn test_read_capacity() {
    let mut lu = lu();
    let (d, c) = run(&mut lu, &[0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], 8, &[]);
    assert!(c.is_good());
    assert_eq!(d, [0, 0, 0, 63, 0, 0, 2, 0]);
    // PMI 0 with a non-zero LBA.
    let c = run(&mut lu, &[0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0], 8, &[]).1;
    assert_invalid_field(&c, 2);
    for alloc in 0..=40u32 {
        let (d, c) = run(&mut lu, &cdb16(0x9e, 0x10, 0, alloc), alloc, &[]);
        assert!(c.is_good());
        assert_eq!(d.len(), alloc.min(32) as usize);
        if alloc >= 16 {
            assert_eq!(&d[..12], &[0, 0, 0, 0, 0, 0, 0, 63, 0, 0, 2, 0]);
            assert_eq!(d[12], 0, "no protection");
            assert_eq!(d[14] & 0xc0, 0, "no LBPME");
        }
    }
    let mut thin = lu_over(thin_disk(16));
    let (d, _) = run(&mut thin, &cdb16(0x9e, 0x10, 0, 32), 32, &[]);
    // Without `scsi-full` (no UNMAP, WRITE SAME, GET LBA STATUS) a thin unit reports full
    // provisioning.
    let want = if cfg!(feature = "scsi-full") { 0xc0 } else { 0 };
    assert_eq!(d[14] & 0xc0, want, "LBPME and LBPRZ");
}

fn mode_sense6(
    lu: &mut TestLu,
    dbd: bool,
    pc: u8,
    page: u8,
    sub: u8,
    alloc: u8,
) -> (Vec<u8>, Completion) {
    let b1 = if dbd { 0x08 } else { 0 };
    run(
        lu,
        &[0x1a, b1, (pc << 6) | page, sub, alloc, 0],
        u32::from(alloc),
        &[],
    )
}

/// Splits mode pages after the header and block descriptors.
fn pages(d: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = d;
    while rest.len() >= 2 {
        let len = usize::from(rest[1]) + 2;
        out.push((rest[0] & 0x3f, rest[..len].to_vec()));
        rest = &rest[len..];
    }
    out
}

#[test]
fn test_mode_sense6_all_pages() {
    let mut lu = lu();
    let (d, c) = mode_sense6(&mut lu, false, 0, 0x3f, 0, 255);
    assert!(c.is_good());
    assert_eq!(usize::from(d[0]) + 1, d.len());
    assert_eq!(d[2] & 0x10, 0x10, "DPOFUA");
    assert_eq!(d[2] & 0x80, 0, "not write protected");
    assert_eq!(d[3], 8);
    assert_eq!(&d[4..8], &(BLOCKS as u32).to_be_bytes());
    assert_eq!(&d[9..12], &[0, 2, 0]);
    let p = pages(&d[12..]);
    let codes: Vec<u8> = p.iter().map(|(c, _)| *c).collect();
    assert_eq!(codes, [0x08, 0x0a, 0x1c]);
    // The control page alone is the same as in all pages.
    let (d2, _) = mode_sense6(&mut lu, true, 0, 0x0a, 0, 255);
    assert_eq!(d2[3], 0, "DBD: no block descriptor");
    assert_eq!(pages(&d2[4..])[0], p[1]);
    // Subpage FFh is accepted; others are not.
    assert!(mode_sense6(&mut lu, false, 0, 0x3f, 0xff, 255).1.is_good());
    let c = mode_sense6(&mut lu, false, 0, 0x3f, 0x01, 255).1;
    assert_invalid_field(&c, 3);
}

#[test]
fn test_mode_sense_page_control_and_errors() {
    let mut lu = lu();
    let c = mode_sense6(&mut lu, false, 3, 0x3f, 0, 255).1;
    assert_eq!(
        code(&c),
        (
            SenseKey::ILLEGAL_REQUEST,
            AdditionalSense::SAVING_PARAMETERS_NOT_SUPPORTED
        )
    );
    let c = mode_sense6(&mut lu, false, 0, 0x19, 0, 255).1;
    assert_invalid_field(&c, 2);
    assert_eq!(field(&c), (2, Some(5)));
    // Changeable: only SWP in the control page (the RAM disk has no write cache); nothing
    // without MODE SELECT (`scsi-full`).
    let (d, _) = mode_sense6(&mut lu, true, 1, 0x3f, 0, 255);
    let p = pages(&d[4..]);
    assert_eq!(p[0].1[2], 0, "WCE not changeable without a cache");
    let swp = if cfg!(feature = "scsi-full") { 0x08 } else { 0 };
    assert_eq!(p[1].1[4], swp, "SWP changeable");
    let (d, _) = mode_sense6(&mut lu, true, 2, 0x08, 0, 255);
    assert_eq!(pages(&d[4..])[0].1[2] & 0x04, 0, "default WCE off");
}

#[test]
fn test_mode_sense6_residuals() {
    let mut lu = lu();
    let (d, c) = mode_sense6(&mut lu, false, 0, 0x3f, 0, 4);
    assert_eq!(d.len(), 4);
    assert_eq!(c.residual, Residual::None);
    let (d, c) = mode_sense6(&mut lu, false, 0, 0x3f, 0, 255);
    assert_eq!(c.residual, Residual::Under(255 - d.len() as u32));
}

#[test]
fn test_mode_sense10_long_lba() {
    let mut lu = lu();
    let (d, c) = run(&mut lu, &[0x5a, 0x10, 0x08, 0, 0, 0, 0, 1, 0, 0], 256, &[]);
    assert!(c.is_good());
    assert_eq!(usize::from(u16::from_be_bytes([d[0], d[1]])) + 2, d.len());
    assert_eq!(d[4] & 1, 1, "LONGLBA");
    assert_eq!(u16::from_be_bytes([d[6], d[7]]), 16);
    assert_eq!(&d[8..16], &BLOCKS.to_be_bytes());
    assert_eq!(&d[20..24], &BS.to_be_bytes());
    assert_eq!(d[24], 0x08, "caching page follows");
}

#[test]
fn test_write_protect_in_mode_sense_and_writes() {
    let mut d = disk(8);
    d.set_write_protected(true);
    let mut lu = lu_over(d);
    let (m, _) = mode_sense6(&mut lu, true, 0, 0x3f, 0, 255);
    assert_eq!(m[2] & 0x80, 0x80, "WP");
    let data = pattern(BS as usize, 1);
    for cdb in [
        cdb10(0x2a, 0, 0, 1).to_vec(),
        cdb12(0xaa, 0, 0, 1).to_vec(),
        cdb16(0x8a, 0, 0, 1).to_vec(),
        vec![0x0a, 0, 0, 0, 1, 0],
    ] {
        let c = run(&mut lu, &cdb, 0, &data).1;
        assert_eq!(
            code(&c),
            (SenseKey::DATA_PROTECT, AdditionalSense::WRITE_PROTECTED)
        );
    }
    assert!(read10(&mut lu, 0, 1).1.is_good(), "reads still work");
}
