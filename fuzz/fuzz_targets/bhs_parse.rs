//! Fuzzes the iSCSI header and framing parsers: `PduRepr::parse`, `Pdu::parse` (with and without
//! digests) and the SCSI Command AHS. Whatever parses must re-emit and parse back to the same
//! value.
//!
//! Input: one selector byte, then the bytes of the stream. Selector bits: 0x01 HeaderDigest,
//! 0x02 DataDigest, 0x04 write correct digests into the input first (so the fuzzer gets past the
//! CRC checks without a `cfg(fuzzing)` hook in the core).
#![no_main]

use iser_core::wire::{
    crc32c, data_offset, emit_pdu, padded_len, Bhs, CommandAhs, Digests, Pdu, PduRepr, BHS_LEN,
};
use libfuzzer_sys::fuzz_target;

const MAX_DATA: usize = 1 << 16;

fn fix_digests(buf: &mut [u8], digests: Digests) {
    if buf.len() < BHS_LEN {
        return;
    }
    let bhs = Bhs::new_unchecked(&buf[..]);
    let ahs_len = bhs.ahs_len();
    let data_len = bhs.data_segment_length() as usize;
    let header_end = BHS_LEN + ahs_len;
    if digests.header && buf.len() >= header_end + 4 {
        let crc = crc32c(&buf[..header_end]);
        buf[header_end..header_end + 4].copy_from_slice(&crc.to_le_bytes());
    }
    let start = data_offset(ahs_len, digests);
    let end = start + padded_len(data_len);
    if digests.data && data_len > 0 && buf.len() >= end + 4 {
        let crc = crc32c(&buf[start..end]);
        buf[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let digests = Digests {
        header: selector & 0x01 != 0,
        data: selector & 0x02 != 0,
    };
    let mut buf = data.to_vec();
    if selector & 0x04 != 0 {
        fix_digests(&mut buf, digests);
    }

    if let Ok(repr) = PduRepr::parse(&buf) {
        let mut out = [0u8; BHS_LEN];
        repr.emit(&mut out).expect("a parsed header re-emits");
        assert_eq!(PduRepr::parse(&out), Ok(repr));
    }

    if let Ok((pdu, used)) = Pdu::parse(&buf, digests, MAX_DATA) {
        assert!(used <= buf.len());
        assert!(pdu.data.len() <= MAX_DATA);
        if let Ok(repr) = pdu.repr() {
            let mut out = vec![0u8; used];
            let n = emit_pdu(&repr, pdu.ahs, pdu.data, digests, &mut out).expect("re-emit");
            assert_eq!(n, used);
            let (again, used_again) = Pdu::parse(&out, digests, MAX_DATA).expect("re-parse");
            assert_eq!(used_again, used);
            assert_eq!(again.repr(), Ok(repr));
            assert_eq!(again.ahs, pdu.ahs);
            assert_eq!(again.data, pdu.data);
            if let PduRepr::ScsiCommand(cmd) = repr {
                if let Ok(ahs) = CommandAhs::parse(&cmd.cdb, pdu.ahs) {
                    assert!(ahs.cdb.len() >= 16 && ahs.cdb.len() <= 260);
                    assert_eq!(ahs.cdb.bhs_part(), cmd.cdb);
                }
            }
        }
    }
});
