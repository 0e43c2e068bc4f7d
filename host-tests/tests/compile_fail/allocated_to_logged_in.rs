//! Allocated cannot skip Connected: there is no path straight into full feature phase.
use iser_core::conn::{Allocated, Conn, ConnParams, LoggedIn};
use iser_core::time::Instant;

fn main() {
    let conn: Conn<Allocated, ()> = Conn::new(ConnParams::target(1), ());
    let _logged_in: Conn<LoggedIn, ()> = conn.enable_datamover(Instant(0));
}
