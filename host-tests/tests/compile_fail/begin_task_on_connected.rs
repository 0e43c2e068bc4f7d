//! Tasks (the full-feature API) cannot start while login is still in progress.
use iser_core::conn::{CmFlags, Conn, ConnParams};

fn main() {
    let mut conn = Conn::new(ConnParams::target(1), ()).connect(CmFlags::default());
    let _token = conn.begin_task();
}
