//! A transition consumes the connection: the old stage cannot be used again.
use iser_core::conn::{Conn, ConnParams};
use iser_core::wire::CmPrivateData;

fn main() {
    let conn = Conn::new(ConnParams::target(1), ());
    let _connected = conn.connect(CmPrivateData::default());
    let _again = conn.abort();
}
