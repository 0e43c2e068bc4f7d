//! Tasks cannot start while the initiator still waits for the HelloReply.
use iser_core::conn::{Conn, ConnParams, Enabled};
use iser_core::time::Instant;
use iser_core::wire::CmPrivateData;

fn main() {
    let mut params = ConnParams::initiator(1);
    params.send_hello = true;
    let conn = Conn::new(params, ()).connect(CmPrivateData::default());
    if let Enabled::HelloSent(mut waiting) = conn.enable_datamover(Instant(0)) {
        let _token = waiting.begin_task();
    }
}
