//! Only HelloSent handles a HelloReply; a logged-in connection has no such input.
use iser_core::conn::{CmFlags, Conn, ConnParams, Enabled, HelloReplyParams};
use iser_core::time::Instant;

fn main() {
    let conn = Conn::new(ConnParams::target(1), ()).connect(CmFlags::default());
    if let Enabled::LoggedIn(logged_in) = conn.enable_datamover(Instant(0)) {
        let reply = HelloReplyParams { reject: false, max_version: 1, cur_version: 1, ord: 1 };
        let _ = logged_in.handle_hello_reply(reply, Instant(0));
    }
}
