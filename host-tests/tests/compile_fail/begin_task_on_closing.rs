//! A closing connection drains: no new tasks.
use iser_core::conn::{CmFlags, Conn, ConnParams};

fn main() {
    let mut closing = Conn::new(ConnParams::target(1), ()).connect(CmFlags::default()).close();
    let _token = closing.begin_task();
}
