//! Only HelloSent handles a HelloReply; a logged-in connection has no such input.
use iser_core::conn::{Conn, ConnParams, Enabled};
use iser_core::time::Instant;
use iser_core::wire::{CmPrivateData, HelloReplyRepr};

fn main() {
    let conn = Conn::new(ConnParams::target(1), ()).connect(CmPrivateData::default());
    if let Enabled::LoggedIn(logged_in) = conn.enable_datamover(Instant(0)) {
        let reply = HelloReplyRepr { reject: false, max_ver: 1, cur_ver: 1, iser_ord: 1 };
        let _ = logged_in.handle_hello_reply(reply, Instant(0));
    }
}
