//! INQUIRY data: the standard page (SPC-4 §6.6.2) and the VPD pages Supported VPD Pages (00h),
//! Unit Serial Number (80h), Device Identification (83h, §7.8.6), Block Limits (B0h, SBC-3
//! §6.5.3), Block Device Characteristics (B1h, §6.5.2) and Logical Block Provisioning (B2h,
//! §6.5.4).

use super::cdb;
use super::device::Provisioning;
use super::identity::{LuConfig, LuIdentity};
use super::sense::Sense;
use super::window::Window;

pub(crate) const VPD_SUPPORTED_PAGES: u8 = 0x00;
pub(crate) const VPD_UNIT_SERIAL_NUMBER: u8 = 0x80;
pub(crate) const VPD_DEVICE_IDENTIFICATION: u8 = 0x83;
pub(crate) const VPD_BLOCK_LIMITS: u8 = 0xb0;
pub(crate) const VPD_BLOCK_DEVICE_CHARACTERISTICS: u8 = 0xb1;
pub(crate) const VPD_LOGICAL_BLOCK_PROVISIONING: u8 = 0xb2;

/// VPD pages in ascending order, as page 00h lists them.
const VPD_PAGES: [u8; 6] = [
    VPD_SUPPORTED_PAGES,
    VPD_UNIT_SERIAL_NUMBER,
    VPD_DEVICE_IDENTIFICATION,
    VPD_BLOCK_LIMITS,
    VPD_BLOCK_DEVICE_CHARACTERISTICS,
    VPD_LOGICAL_BLOCK_PROVISIONING,
];

/// Length of the standard INQUIRY data we return.
pub(crate) const STANDARD_LEN: usize = 96;

/// VERSION DESCRIPTORs (SPC-4 table 144): SAM-5, iSCSI, SPC-4, SBC-3 (no version claimed).
const VERSION_DESCRIPTORS: [u16; 4] = [0x00a0, 0x0960, 0x0460, 0x04c0];

/// A decoded INQUIRY CDB.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Inquiry {
    /// `Some(page)` for EVPD=1.
    pub vpd: Option<u8>,
    pub alloc: u32,
}

impl Inquiry {
    /// Decodes INQUIRY. PAGE CODE without EVPD, or an unsupported VPD page, is an INVALID
    /// FIELD IN CDB at byte 2 (SPC-4 §6.6.1).
    pub(crate) fn parse(c: &[u8]) -> Result<Inquiry, Sense> {
        let evpd = cdb::u8_at(c, 1) & 0x01 != 0;
        let page = cdb::u8_at(c, 2);
        let alloc = u32::from(cdb::be16(c, 3));
        if !evpd {
            if page != 0 {
                return Err(Sense::invalid_field_in_cdb(2, Some(7)));
            }
            return Ok(Inquiry { vpd: None, alloc });
        }
        if !VPD_PAGES.contains(&page) {
            return Err(Sense::invalid_field_in_cdb(2, Some(7)));
        }
        Ok(Inquiry {
            vpd: Some(page),
            alloc,
        })
    }
}

/// What the INQUIRY pages need to know besides the identity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InquiryFacts {
    pub physical_block_exponent: u8,
    pub provisioning: Provisioning,
    /// MAXIMUM TRANSFER LENGTH actually enforced.
    pub max_transfer_blocks: u32,
    /// MAXIMUM COMPARE AND WRITE LENGTH (0: COMPARE AND WRITE unsupported).
    pub max_compare_and_write_blocks: u8,
    /// MAXIMUM ATOMIC TRANSFER LENGTH (0: WRITE ATOMIC unsupported).
    pub max_atomic_blocks: u32,
    /// MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT actually accepted.
    pub max_unmap_descriptors: u32,
    /// UNMAP is supported (LBPU) and WRITE SAME can unmap (LBPWS, LBPWS10).
    pub unmap: bool,
    pub write_same: bool,
    /// Implicit asymmetric access (TPGS 01b) with REPORT TARGET PORT GROUPS.
    pub tpgs: bool,
    /// EXTENDED COPY (3PC).
    pub third_party_copy: bool,
    /// Removable medium (RMB).
    pub removable: bool,
    /// SANITIZE BLOCK ERASE or CRYPTO ERASE supported (WABEREQ/WACEREQ reported).
    pub sanitize_erase: bool,
}

/// Standard INQUIRY data. `pq_pdt` is byte 0: 00h for a connected direct-access device,
/// 7Fh for a LUN that does not exist (PERIPHERAL QUALIFIER 011b, type 1Fh).
pub(crate) fn standard(id: &LuIdentity, pq_pdt: u8, f: Option<&InquiryFacts>, w: &mut Window<'_>) {
    let mut b = [0u8; STANDARD_LEN];
    b[0] = pq_pdt;
    let (rmb, tpgs, tpc) = f.map_or((false, false, false), |f| {
        (f.removable, f.tpgs, f.third_party_copy)
    });
    if rmb {
        b[1] = 0x80; // RMB
    }
    b[2] = 0x06; // VERSION: SPC-4
    b[3] = 0x10 | 0x02; // HISUP, RESPONSE DATA FORMAT 2
    b[4] = (STANDARD_LEN - 5) as u8;
    if tpgs {
        b[5] |= 0x10;
    }
    if tpc {
        b[5] |= 0x08;
    }
    b[7] = 0x02; // CMDQUE
    b[8..16].copy_from_slice(&id.vendor);
    b[16..32].copy_from_slice(&id.product);
    b[32..36].copy_from_slice(&id.revision);
    for (slot, d) in b[58..74].chunks_exact_mut(2).zip(VERSION_DESCRIPTORS) {
        slot.copy_from_slice(&d.to_be_bytes());
    }
    w.put(&b);
}

/// VPD page `page` (one of [`VPD_PAGES`]).
pub(crate) fn vpd(page: u8, id: &LuIdentity, cfg: &LuConfig, f: &InquiryFacts, w: &mut Window<'_>) {
    match page {
        VPD_SUPPORTED_PAGES => {
            w.put(&[0, VPD_SUPPORTED_PAGES, 0, VPD_PAGES.len() as u8]);
            w.put(&VPD_PAGES);
        }
        VPD_UNIT_SERIAL_NUMBER => {
            let s = id.serial.as_bytes();
            w.put(&[0, VPD_UNIT_SERIAL_NUMBER, 0]);
            w.u8(u8::try_from(s.len()).unwrap_or(0));
            w.put(s);
        }
        VPD_DEVICE_IDENTIFICATION => {
            let len = super::window::measure(|w| designators(id, w));
            w.put(&[0, VPD_DEVICE_IDENTIFICATION]);
            w.be16(u16::try_from(len).unwrap_or(u16::MAX));
            designators(id, w);
        }
        VPD_BLOCK_LIMITS => w.put(&block_limits(cfg, f)),
        VPD_BLOCK_DEVICE_CHARACTERISTICS => {
            let mut b = [0u8; 64];
            b[1] = VPD_BLOCK_DEVICE_CHARACTERISTICS;
            b[3] = 0x3c;
            b[5] = 0x01; // MEDIUM ROTATION RATE: non-rotating medium
            if f.sanitize_erase {
                // WABEREQ 01b, WACEREQ 01b: reads after BLOCK/CRYPTO ERASE return GOOD.
                b[7] = 0x50;
            }
            w.put(&b);
        }
        VPD_LOGICAL_BLOCK_PROVISIONING => {
            let mut b = [0u8; 8];
            b[1] = VPD_LOGICAL_BLOCK_PROVISIONING;
            b[3] = 4;
            if let Provisioning::Thin { lbprz } = f.provisioning {
                if f.unmap {
                    b[5] |= 0x80; // LBPU
                }
                if f.write_same && f.unmap {
                    b[5] |= 0x40 | 0x20; // LBPWS, LBPWS10
                }
                if lbprz {
                    b[5] |= 0x04; // LBPRZ
                }
                b[6] = 0x02; // PROVISIONING TYPE: thin
            }
            w.put(&b);
        }
        _ => {}
    }
}

/// Block Limits VPD page (SBC-3 §6.5.3).
fn block_limits(cfg: &LuConfig, f: &InquiryFacts) -> [u8; 64] {
    let mut b = [0u8; 64];
    b[1] = VPD_BLOCK_LIMITS;
    b[3] = 0x3c;
    // WSNZ 0: WRITE SAME with NUMBER OF LOGICAL BLOCKS 0 writes through the last block.
    b[5] = f.max_compare_and_write_blocks;
    let granularity = 1u16
        .checked_shl(u32::from(f.physical_block_exponent))
        .unwrap_or(1);
    b[6..8].copy_from_slice(&granularity.to_be_bytes());
    b[8..12].copy_from_slice(&f.max_transfer_blocks.to_be_bytes());
    b[12..16].copy_from_slice(&cfg.optimal_transfer_blocks.to_be_bytes());
    let thin = matches!(f.provisioning, Provisioning::Thin { .. }) && f.unmap;
    if thin {
        b[20..24].copy_from_slice(&cfg.max_unmap_blocks.max(1).to_be_bytes());
        b[24..28].copy_from_slice(&f.max_unmap_descriptors.max(1).to_be_bytes());
        b[28..32].copy_from_slice(&u32::from(granularity).to_be_bytes());
    }
    if f.write_same {
        b[36..44].copy_from_slice(&cfg.max_write_same_blocks.to_be_bytes());
    }
    // MAXIMUM ATOMIC TRANSFER LENGTH; alignment and granularity 0 (none required).
    b[44..48].copy_from_slice(&f.max_atomic_blocks.to_be_bytes());
    b
}

/// Designation descriptors of the Device Identification page (SPC-4 §7.8.6): NAA, T10 vendor
/// ID, then for the target port its relative port, port group and SCSI name string, and the
/// target device's SCSI name string.
fn designators(id: &LuIdentity, w: &mut Window<'_>) {
    // NAA IEEE Registered Extended: binary, LU association, type 3.
    w.put(&[0x01, 0x03, 0, 16]);
    w.put(&id.naa6());
    // T10 vendor ID: ASCII, LU association, type 1: vendor + serial.
    let serial = id.serial.as_bytes();
    w.put(&[0x02, 0x01, 0]);
    w.u8(u8::try_from(serial.len().saturating_add(8)).unwrap_or(u8::MAX));
    w.put(&id.vendor);
    w.put(serial);
    // Relative target port: protocol iSCSI (5h), PIV, target-port association, type 4.
    w.put(&[0x51, 0x94, 0, 4, 0, 0]);
    w.be16(id.relative_port_id);
    // Target port group: type 5.
    w.put(&[0x51, 0x95, 0, 4, 0, 0]);
    w.be16(id.port_group);
    // SCSI name string of the target port: the iSCSI target port name "<name>,t,0x<TPGT>"
    // (TPGT as 4 hex digits), UTF-8, NUL terminated, padded to a multiple of 4.
    let name = id.target_name.as_bytes();
    let mut tpgt = *b",t,0x0000";
    for (i, d) in tpgt[5..].iter_mut().enumerate() {
        let shift = 12u32.saturating_sub((i as u32).saturating_mul(4));
        let nib = (id.portal_group_tag.checked_shr(shift).unwrap_or(0) & 0xf) as u8;
        *d = b"0123456789abcdef"
            .get(usize::from(nib))
            .copied()
            .unwrap_or(b'0');
    }
    let port_len = name.len().saturating_add(tpgt.len());
    w.put(&[0x53, 0x98, 0]);
    scsi_name(w, &[name, &tpgt], port_len);
    // SCSI name string of the target device: PIV, target-device association (10b), type 8.
    w.put(&[0x53, 0xa8, 0]);
    scsi_name(w, &[name], name.len());
}

/// DESIGNATOR LENGTH byte then the string parts, NUL padded to a multiple of four with at
/// least one NUL (SPC-4 §7.8.6.11).
fn scsi_name(w: &mut Window<'_>, parts: &[&[u8]], len: usize) {
    let padded = len.saturating_add(4) & !3;
    w.u8(u8::try_from(padded).unwrap_or(u8::MAX));
    for p in parts {
        w.put(p);
    }
    w.zeros(padded.saturating_sub(len));
}
