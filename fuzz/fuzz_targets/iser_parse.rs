//! Fuzzes the iSER parsers: `IserMessage::parse` (iSER header, Hello, HelloReply), the framed
//! iSCSI PDU behind a control-type header, and the CM private data. Whatever parses must re-emit
//! and parse back to the same value.
#![no_main]

use iser_core::wire::{
    CmPrivateData, Digests, HelloReplyRepr, HelloRepr, IserHeader, IserHeaderRepr, IserMessage,
    Pdu, HELLO_LEN, ISER_HEADER_LEN,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match IserMessage::parse(data) {
        Ok(IserMessage::Control { header, pdu }) => {
            let mut out = [0u8; ISER_HEADER_LEN];
            header
                .emit(&mut IserHeader::new_unchecked(&mut out[..]))
                .expect("re-emit");
            assert_eq!(
                IserHeaderRepr::parse(&IserHeader::new_unchecked(&out[..])),
                Ok(header)
            );
            if let Ok((p, used)) = Pdu::parse(pdu, Digests::NONE, 1 << 16) {
                assert!(used <= pdu.len());
                let _ = p.repr();
            }
        }
        Ok(IserMessage::Hello(hello)) => {
            let mut out = [0u8; HELLO_LEN];
            hello.emit(&mut out).expect("re-emit");
            assert_eq!(HelloRepr::parse(&out), Ok(hello));
        }
        Ok(IserMessage::HelloReply(reply)) => {
            let mut out = [0u8; HELLO_LEN];
            reply.emit(&mut out).expect("re-emit");
            assert_eq!(HelloReplyRepr::parse(&out), Ok(reply));
        }
        Ok(_) | Err(_) => {}
    }
    if let Ok(cm) = CmPrivateData::parse(data) {
        let mut out = [0u8; 4];
        cm.emit(&mut out).expect("re-emit");
        assert_eq!(CmPrivateData::parse(&out), Ok(cm));
    }
});
