//! Fuzz target: `key=value` text parsing and the target-side login key negotiator (TCP and iSER
//! policies) on arbitrary bytes. See `iser_core::negotiate::fuzz_target_negotiation`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for pair in iser_core::wire::text::TextReader::new(data) {
        if pair.is_err() {
            break;
        }
    }
    iser_core::negotiate::fuzz_target_negotiation(data);
});
