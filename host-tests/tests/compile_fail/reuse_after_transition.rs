//! A transition consumes the connection: the old stage cannot be used again.
use iser_core::conn::{CmFlags, Conn, ConnParams};

fn main() {
    let conn = Conn::new(ConnParams::target(1), ());
    let _connected = conn.connect(CmFlags::default());
    let _again = conn.abort();
}
