//! Resources come back only through Closing (after draining): a logged-in connection cannot be
//! released directly.
use iser_core::conn::{Conn, ConnParams, Enabled};
use iser_core::time::Instant;
use iser_core::wire::CmPrivateData;

fn main() {
    let conn = Conn::new(ConnParams::target(1), ()).connect(CmPrivateData::default());
    if let Enabled::LoggedIn(logged_in) = conn.enable_datamover(Instant(0)) {
        let _ = logged_in.into_resources();
    }
}
