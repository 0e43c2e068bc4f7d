//! Tasks (the full-feature API) cannot start while login is still in progress.
use iser_core::conn::{Conn, ConnParams};
use iser_core::wire::CmPrivateData;

fn main() {
    let mut conn = Conn::new(ConnParams::target(1), ()).connect(CmPrivateData::default());
    let _token = conn.begin_task();
}
