//! Mode parameters: MODE SENSE(6)/(10) data (SPC-4 §6.11–§6.12, §7.5) with the Caching
//! (SBC-3 §6.4.5), Control (SPC-4 §7.5.8) and Informational Exceptions Control (SPC-4
//! §7.5.11) pages, and the state MODE SELECT can change.

use super::cdb;
use super::sense::{AdditionalSense, Sense};
use super::window::Window;

/// Mode page codes.
pub(crate) const PAGE_CACHING: u8 = 0x08;
pub(crate) const PAGE_CONTROL: u8 = 0x0a;
pub(crate) const PAGE_INFORMATIONAL_EXCEPTIONS: u8 = 0x1c;
pub(crate) const PAGE_ALL: u8 = 0x3f;

/// Length of each page including its 2-byte header.
pub(crate) const CACHING_LEN: usize = 20;
pub(crate) const CONTROL_LEN: usize = 12;
pub(crate) const IEC_LEN: usize = 12;

/// Changeable mode state of a logical unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct ModeState {
    /// WCE: write cache enabled. When clear, writes go through (FUA on every write).
    pub wce: bool,
    /// SWP: software write protect (Control page).
    pub swp: bool,
}

impl ModeState {
    pub(crate) fn defaults(has_cache: bool) -> ModeState {
        ModeState {
            wce: has_cache,
            swp: false,
        }
    }
}

/// PAGE CONTROL field (SPC-4 §6.11.2, table 155).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PageControl {
    Current,
    Changeable,
    Default,
}

/// Facts about the device that mode data reports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DeviceFacts {
    pub num_blocks: u64,
    pub block_size: u32,
    pub write_protected: bool,
    pub has_cache: bool,
}

/// A decoded MODE SENSE(6)/(10) CDB.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ModeSense {
    ten: bool,
    dbd: bool,
    llbaa: bool,
    pc: PageControl,
    page: u8,
    pub alloc: u32,
}

impl ModeSense {
    /// Decodes MODE SENSE(6) (`ten` false) or (10). Errors: saved values (39/00), unknown page
    /// (24/00 at byte 2) or subpage (24/00 at byte 3).
    pub(crate) fn parse(c: &[u8], ten: bool) -> Result<ModeSense, Sense> {
        let b1 = cdb::u8_at(c, 1);
        let b2 = cdb::u8_at(c, 2);
        let sub = cdb::u8_at(c, 3);
        let pc = match b2 >> 6 {
            0 => PageControl::Current,
            1 => PageControl::Changeable,
            2 => PageControl::Default,
            _ => {
                return Err(Sense::illegal_request(
                    AdditionalSense::SAVING_PARAMETERS_NOT_SUPPORTED,
                ))
            }
        };
        let page = b2 & 0x3f;
        if !matches!(
            page,
            PAGE_CACHING | PAGE_CONTROL | PAGE_INFORMATIONAL_EXCEPTIONS | PAGE_ALL
        ) {
            return Err(Sense::invalid_field_in_cdb(2, Some(5)));
        }
        // No subpages: subpage 00h, or FFh (page and all its subpages).
        if sub != 0 && sub != 0xff {
            return Err(Sense::invalid_field_in_cdb(3, Some(7)));
        }
        Ok(ModeSense {
            ten,
            dbd: b1 & 0x08 != 0,
            llbaa: ten && b1 & 0x10 != 0,
            pc,
            page,
            alloc: if ten {
                u32::from(cdb::be16(c, 7))
            } else {
                u32::from(cdb::u8_at(c, 4))
            },
        })
    }

    fn descriptor_len(&self) -> usize {
        match (self.dbd, self.llbaa) {
            (true, _) => 0,
            (false, false) => 8,
            (false, true) => 16,
        }
    }

    fn pages_len(&self) -> usize {
        match self.page {
            PAGE_CACHING => CACHING_LEN,
            PAGE_CONTROL => CONTROL_LEN,
            PAGE_INFORMATIONAL_EXCEPTIONS => IEC_LEN,
            _ => CACHING_LEN + CONTROL_LEN + IEC_LEN,
        }
    }

    /// Emits the mode parameter header, block descriptor and pages.
    pub(crate) fn generate(&self, state: &ModeState, dev: &DeviceFacts, w: &mut Window<'_>) {
        let desc = self.descriptor_len();
        let header: usize = if self.ten { 8 } else { 4 };
        let total = header.saturating_add(desc).saturating_add(self.pages_len());
        // DEVICE-SPECIFIC PARAMETER for direct access (SBC-3 §6.4.1): WP, DPOFUA.
        let wp = dev.write_protected || state.swp;
        let dsp = if wp { 0x80 } else { 0 } | 0x10;
        if self.ten {
            w.be16(u16::try_from(total.saturating_sub(2)).unwrap_or(u16::MAX));
            w.u8(0); // medium type
            w.u8(dsp);
            w.u8(if self.llbaa && desc > 0 { 0x01 } else { 0 });
            w.u8(0);
            w.be16(u16::try_from(desc).unwrap_or(0));
        } else {
            w.u8(u8::try_from(total.saturating_sub(1)).unwrap_or(u8::MAX));
            w.u8(0);
            w.u8(dsp);
            w.u8(u8::try_from(desc).unwrap_or(0));
        }
        let changeable = self.pc == PageControl::Changeable;
        let (blocks, bs) = if changeable {
            (0, 0)
        } else {
            (dev.num_blocks, dev.block_size)
        };
        match desc {
            8 => {
                w.be32(u32::try_from(blocks).unwrap_or(u32::MAX));
                w.u8(0);
                w.put(&bs.to_be_bytes()[1..]);
            }
            16 => {
                w.be64(blocks);
                w.be32(0);
                w.be32(bs);
            }
            _ => {}
        }
        let values = match self.pc {
            PageControl::Current => *state,
            PageControl::Default => ModeState::defaults(dev.has_cache),
            // Changeable: a mask, 1 = changeable bit; none without MODE SELECT (`scsi-full`).
            PageControl::Changeable => ModeState {
                wce: cfg!(feature = "scsi-full") && dev.has_cache,
                swp: cfg!(feature = "scsi-full"),
            },
        };
        let all = self.page == PAGE_ALL;
        if all || self.page == PAGE_CACHING {
            w.put(&caching_page(values.wce));
        }
        if all || self.page == PAGE_CONTROL {
            w.put(&control_page(values.swp, changeable));
        }
        if all || self.page == PAGE_INFORMATIONAL_EXCEPTIONS {
            w.put(&iec_page(changeable));
        }
    }
}

/// The current bytes, the changeable mask and the length of page `code` (20 bytes at most),
/// for checking a MODE SELECT page.
pub(crate) fn page_bytes(
    code: u8,
    state: &ModeState,
    dev: &DeviceFacts,
) -> Option<([u8; CACHING_LEN], [u8; CACHING_LEN], usize)> {
    let mut cur = [0u8; CACHING_LEN];
    let mut mask = [0u8; CACHING_LEN];
    let len = match code {
        PAGE_CACHING => {
            cur = caching_page(state.wce);
            mask = caching_page(dev.has_cache);
            mask[0] = 0;
            mask[1] = 0;
            CACHING_LEN
        }
        PAGE_CONTROL => {
            cur[..CONTROL_LEN].copy_from_slice(&control_page(state.swp, false));
            mask[..CONTROL_LEN].copy_from_slice(&control_page(true, true));
            CONTROL_LEN
        }
        PAGE_INFORMATIONAL_EXCEPTIONS => {
            cur[..IEC_LEN].copy_from_slice(&iec_page(false));
            IEC_LEN
        }
        _ => return None,
    };
    Some((cur, mask, len))
}

/// Takes the changeable bits of MODE SELECT page `code` into `state`.
pub(crate) fn apply_page(code: u8, page: &[u8], state: &mut ModeState) {
    let b = |i: usize| page.get(i).copied().unwrap_or(0);
    match code {
        PAGE_CACHING => state.wce = b(2) & 0x04 != 0,
        PAGE_CONTROL => state.swp = b(4) & 0x08 != 0,
        _ => {}
    }
}

/// Caching mode page (SBC-3 §6.4.5): only WCE is ever set.
fn caching_page(wce: bool) -> [u8; CACHING_LEN] {
    let mut p = [0u8; CACHING_LEN];
    p[0] = PAGE_CACHING;
    p[1] = (CACHING_LEN - 2) as u8;
    if wce {
        p[2] = 0x04;
    }
    p
}

/// Control mode page (SPC-4 §7.5.8): TST 000b, QUEUE ALGORITHM MODIFIER 1 (unrestricted
/// reordering), QERR 00b, D_SENSE 0 (fixed format), SWP as given; as a changeable mask
/// only SWP is set.
fn control_page(swp: bool, mask: bool) -> [u8; CONTROL_LEN] {
    let mut p = [0u8; CONTROL_LEN];
    p[0] = PAGE_CONTROL;
    p[1] = (CONTROL_LEN - 2) as u8;
    if !mask {
        p[3] = 0x10;
    }
    if swp {
        p[4] = 0x08;
    }
    p
}

/// Informational Exceptions Control page (SPC-4 §7.5.11): DEXCPT set (no informational
/// exception reporting), MRIE 0; nothing changeable.
fn iec_page(mask: bool) -> [u8; IEC_LEN] {
    let mut p = [0u8; IEC_LEN];
    p[0] = PAGE_INFORMATIONAL_EXCEPTIONS;
    p[1] = (IEC_LEN - 2) as u8;
    if !mask {
        p[2] = 0x08;
    }
    p
}
