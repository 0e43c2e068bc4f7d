//! The SCSI the CLI speaks (SPC-4, SBC-3): CDBs for TEST UNIT READY, INQUIRY (standard, VPD
//! 80h serial number, VPD 83h device identification), REPORT LUNS, READ CAPACITY(16),
//! READ(16)/WRITE(16), and decoding of their data and of sense data for messages.

use iser_core::scsi::{AdditionalSense, Sense, SenseKey};

/// TEST UNIT READY.
pub const TEST_UNIT_READY: [u8; 6] = [0; 6];

/// INQUIRY (SPC-4 §6.6), standard data or the VPD page `page`.
pub fn inquiry(vpd: Option<u8>, alloc: u16) -> [u8; 6] {
    let [hi, lo] = alloc.to_be_bytes();
    match vpd {
        Some(page) => [0x12, 0x01, page, hi, lo, 0],
        None => [0x12, 0, 0, hi, lo, 0],
    }
}

/// REPORT LUNS (SPC-4 §6.33), SELECT REPORT 0.
pub fn report_luns(alloc: u32) -> [u8; 12] {
    let mut c = [0u8; 12];
    c[0] = 0xa0;
    c[6..10].copy_from_slice(&alloc.to_be_bytes());
    c
}

/// READ CAPACITY(16) (SBC-3 §5.16).
pub fn read_capacity16() -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = 0x9e;
    c[1] = 0x10;
    c[10..14].copy_from_slice(&32u32.to_be_bytes());
    c
}

/// READ(16) or WRITE(16) of `blocks` blocks at `lba` (SBC-3 §5.8, §5.40).
pub fn rw16(write: bool, lba: u64, blocks: u32) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = if write { 0x8a } else { 0x88 };
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

/// LUN indices from REPORT LUNS parameter data (single-level peripheral and flat addressing).
pub fn parse_report_luns(data: &[u8]) -> Vec<u16> {
    let Some(len) = data.get(..4) else {
        return Vec::new();
    };
    let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
    data.get(8..)
        .unwrap_or_default()
        .chunks_exact(8)
        .take(len / 8)
        .filter_map(|c| {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            iser_core::wire::Lun::from_bytes(b).index()
        })
        .collect()
}

/// Capacity from READ CAPACITY(16) data: (blocks, block length).
pub fn parse_capacity16(data: &[u8]) -> Option<(u64, u32)> {
    let last = u64::from_be_bytes(data.get(..8)?.try_into().ok()?);
    let len = u32::from_be_bytes(data.get(8..12)?.try_into().ok()?);
    Some((last.checked_add(1)?, len))
}

/// What standard INQUIRY data says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inquiry {
    pub qualifier: u8,
    pub device_type: u8,
    pub vendor: String,
    pub product: String,
    pub revision: String,
}

fn ascii(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// Parses standard INQUIRY data (SPC-4 §6.6.2).
pub fn parse_inquiry(data: &[u8]) -> Option<Inquiry> {
    let b0 = *data.first()?;
    Some(Inquiry {
        qualifier: b0 >> 5,
        device_type: b0 & 0x1f,
        vendor: ascii(data.get(8..16).unwrap_or_default()),
        product: ascii(data.get(16..32).unwrap_or_default()),
        revision: ascii(data.get(32..36).unwrap_or_default()),
    })
}

/// Name of a peripheral device type (SPC-4 table 48).
pub fn device_type_name(t: u8) -> &'static str {
    match t {
        0x00 => "disk",
        0x01 => "tape",
        0x05 => "cd/dvd",
        0x07 => "optical",
        0x08 => "changer",
        0x0c => "raid",
        0x0d => "enclosure",
        0x0e => "rbc",
        0x1f => "none",
        _ => "other",
    }
}

/// The serial number from VPD page 80h.
pub fn parse_unit_serial(data: &[u8]) -> Option<String> {
    if data.get(1) != Some(&0x80) {
        return None;
    }
    let len = usize::from(u16::from_be_bytes(data.get(2..4)?.try_into().ok()?));
    Some(ascii(data.get(4..4 + len).or_else(|| data.get(4..))?))
}

/// Designators from VPD page 83h (SPC-4 §7.8.6), as printable strings such as
/// `naa.6001405…`, `t10.VENDOR …`, `eui.…`, `name …`, `port-group 1`, `relative-port 1`.
pub fn parse_device_identification(data: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    if data.get(1) != Some(&0x83) {
        return out;
    }
    let Some(len) = data.get(2..4) else {
        return out;
    };
    let end = (4 + usize::from(u16::from_be_bytes([len[0], len[1]]))).min(data.len());
    let mut at = 4;
    while at + 4 <= end {
        let code_set = data[at] & 0x0f;
        let assoc = (data[at + 1] >> 4) & 0x3;
        let kind = data[at + 1] & 0x0f;
        let n = usize::from(data[at + 3]);
        let Some(d) = data.get(at + 4..at + 4 + n) else {
            break;
        };
        at += 4 + n;
        let hex = || d.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let text = || ascii(d.split(|&b| b == 0).next().unwrap_or_default());
        let s = match kind {
            1 => format!("t10.{}", text()),
            2 => format!("eui.{}", hex()),
            3 => format!("naa.{}", hex()),
            4 if n >= 4 => format!("relative-port {}", u16::from_be_bytes([d[2], d[3]])),
            5 if n >= 4 => format!("port-group {}", u16::from_be_bytes([d[2], d[3]])),
            8 => format!("name {}", text()),
            0 if code_set == 2 => format!("vendor {}", text()),
            _ => format!("type{kind} {}", hex()),
        };
        let s = match assoc {
            0 => s,
            1 => format!("{s} (target port)"),
            _ => format!("{s} (target device)"),
        };
        out.push(s);
    }
    out
}

/// A one-line description of sense data: key, additional sense name or code, and the raw
/// ASC/ASCQ.
pub fn describe_sense(sense: &[u8]) -> String {
    match Sense::parse(sense) {
        Some(s) => {
            let key = s
                .key
                .name()
                .map_or_else(|| format!("{:#x}", s.key.0), str::to_string);
            let code = describe_asc(s.code);
            format!(
                "{key}, {code} (ASC/ASCQ {:02x}/{:02x})",
                s.code.asc(),
                s.code.ascq()
            )
        }
        None if sense.is_empty() => "no sense data".to_string(),
        None => format!("unparsed sense data {:02x?}", sense),
    }
}

fn describe_asc(code: AdditionalSense) -> String {
    match code.name() {
        Some(n) => n.replace('_', " ").to_lowercase(),
        None => "additional sense".to_string(),
    }
}

/// Whether sense data says the LUN does not exist (25h/00h) — or the whole key says so.
pub fn is_lun_not_supported(sense: &[u8]) -> bool {
    Sense::parse(sense).is_some_and(|s| {
        s.key == SenseKey::ILLEGAL_REQUEST && s.code == AdditionalSense::LOGICAL_UNIT_NOT_SUPPORTED
    })
}

/// Whether sense data is a unit attention (retry the command).
pub fn is_unit_attention(sense: &[u8]) -> bool {
    Sense::parse(sense).is_some_and(|s| s.key == SenseKey::UNIT_ATTENTION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_luns_data() {
        let mut d = vec![0, 0, 0, 16, 0, 0, 0, 0];
        d.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        d.extend_from_slice(&[0x41, 0x00, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse_report_luns(&d), [1, 256]);
        assert_eq!(parse_report_luns(&d[..12]), Vec::<u16>::new());
    }

    #[test]
    fn capacity() {
        let mut d = [0u8; 32];
        d[..8].copy_from_slice(&131_071u64.to_be_bytes());
        d[8..12].copy_from_slice(&512u32.to_be_bytes());
        assert_eq!(parse_capacity16(&d), Some((131_072, 512)));
    }

    #[test]
    fn vpd_pages() {
        let serial = [0, 0x80, 0, 4, b'a', b'b', b'c', b' '];
        assert_eq!(parse_unit_serial(&serial).as_deref(), Some("abc"));
        let mut d = vec![0, 0x83, 0, 0];
        d.extend_from_slice(&[1, 3, 0, 8, 0x60, 1, 2, 3, 4, 5, 6, 7]);
        d.extend_from_slice(&[2, 1, 0, 4, b'A', b'B', b' ', b' ']);
        d.extend_from_slice(&[1, 0x14, 0, 4, 0, 0, 0, 1]);
        d[3] = (d.len() - 4) as u8;
        assert_eq!(
            parse_device_identification(&d),
            [
                "naa.6001020304050607",
                "t10.AB",
                "relative-port 1 (target port)"
            ]
        );
    }

    #[test]
    fn sense_text() {
        let s =
            iser_core::scsi::Sense::illegal_request(AdditionalSense::LOGICAL_UNIT_NOT_SUPPORTED)
                .to_bytes();
        assert!(is_lun_not_supported(&s));
        let t = describe_sense(&s);
        assert!(t.starts_with("ILLEGAL_REQUEST"), "{t}");
        assert!(t.contains("25/00"), "{t}");
        assert_eq!(describe_sense(&[]), "no sense data");
    }
}
