//! A closing connection drains: no new tasks.
use iser_core::conn::{Conn, ConnParams};
use iser_core::wire::CmPrivateData;

fn main() {
    let mut closing = Conn::new(ConnParams::target(1), ()).connect(CmPrivateData::default()).close();
    let _token = closing.begin_task();
}
