//! [`ConnBackend`]: the core's `TargetBackend` for one connection — the shared [`Daemon`] plus
//! what only this connection knows (its portal, its local address for SendTargets, and how to
//! close it when its session is reinstated, RFC 7143 §6.3.5).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use iser_core::scsi::{CommandRequest, Completion, Finish, ScsiTask, Start, Started, Ticket};
use iser_core::session::{
    AuthPolicy, ChapCredentials, SessionRefused, TargetBackend, TargetId, TargetListing,
};
use iser_core::wire::Lun;

use super::registry::{Closer, PeerGone, SessionKey};
use super::Daemon;
use crate::config::Chap;

/// The backend one connection's engine talks to.
pub struct ConnBackend {
    daemon: Arc<Daemon>,
    group_tag: u16,
    /// The initiator's address, for the targets' address lists.
    peer: IpAddr,
    /// `ip:port,tag` of the portal as this connection reached it.
    address: String,
    /// Makes a closer for the session this connection opens.
    closer: Option<Box<dyn FnMut() -> Option<Closer> + Send>>,
    /// Tells whether the peer has closed this connection (see [`Daemon::watch_peer`]).
    peer_gone: Option<PeerGone>,
}

impl std::fmt::Debug for ConnBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnBackend")
            .field("group_tag", &self.group_tag)
            .field("peer", &self.peer)
            .field("address", &self.address)
            .finish()
    }
}

fn policy(chap: Option<&Chap>) -> AuthPolicy<'_> {
    match chap {
        None => AuthPolicy::None,
        Some(c) => AuthPolicy::Chap {
            initiator: ChapCredentials {
                name: &c.username,
                secret: c.secret.as_bytes(),
            },
            target: c.mutual.as_ref().map(|(name, secret)| ChapCredentials {
                name,
                secret: secret.as_bytes(),
            }),
        },
    }
}

impl ConnBackend {
    /// A backend for a connection from `peer` that arrived at `local` on a portal with
    /// `group_tag`. `closer` makes, once per session, a function that shuts this connection
    /// down.
    pub fn new(
        daemon: Arc<Daemon>,
        peer: IpAddr,
        local: SocketAddr,
        group_tag: u16,
        closer: Option<Box<dyn FnMut() -> Option<Closer> + Send>>,
    ) -> ConnBackend {
        ConnBackend {
            daemon,
            group_tag,
            peer,
            address: format!("{local},{group_tag}"),
            closer,
            peer_gone: None,
        }
    }

    /// Sessions this connection opens can be ended by a later login of the same initiator
    /// once `peer_gone` says the peer has closed the connection.
    pub fn with_peer_gone(mut self, peer_gone: PeerGone) -> ConnBackend {
        self.peer_gone = Some(peer_gone);
        self
    }

    /// The shared daemon.
    pub fn daemon(&self) -> &Arc<Daemon> {
        &self.daemon
    }
}

impl TargetBackend for ConnBackend {
    fn find_target(&self, name: &str) -> Option<TargetId> {
        self.daemon.target_index(name).map(TargetId)
    }

    fn may_access(&self, target: TargetId, initiator: &str) -> bool {
        let ok = self.daemon.may_access(target.0, initiator, self.peer);
        if !ok {
            log::warn!(
                "access denied: {initiator} from {} to {}",
                self.peer,
                self.daemon
                    .target(target.0)
                    .map_or("?", |t| t.name.as_str())
            );
        }
        ok
    }

    fn auth_policy(&self, target: TargetId) -> AuthPolicy<'_> {
        policy(self.daemon.target(target.0).and_then(|t| t.chap.as_ref()))
    }

    fn discovery_auth_policy(&self) -> AuthPolicy<'_> {
        policy(self.daemon.config.discovery_chap.as_ref())
    }

    fn for_each_target(&self, initiator: &str, f: &mut dyn FnMut(TargetListing<'_>)) {
        for (i, t) in self.daemon.targets.iter().enumerate() {
            let Ok(i) = u16::try_from(i) else { break };
            if self.daemon.may_access(i, initiator, self.peer) {
                f(TargetListing {
                    name: &t.name,
                    address: &self.address,
                });
            }
        }
    }

    fn portal_group_tag(&self, _target: TargetId) -> u16 {
        self.group_tag
    }

    fn new_session(
        &mut self,
        initiator: &str,
        isid: [u8; 6],
        target: Option<TargetId>,
    ) -> Result<u16, SessionRefused> {
        let key = SessionKey {
            initiator: initiator.to_owned(),
            isid,
            target: target.map(|t| t.0),
        };
        let closer = self.closer.as_mut().and_then(|make| make());
        let tsih = self
            .daemon
            .open_session(key, closer)
            .map_err(|_| SessionRefused::TooManySessions)?;
        if let Some(gone) = &self.peer_gone {
            self.daemon.watch_peer(tsih, gone.clone());
        }
        Ok(tsih)
    }

    fn end_session(&mut self, tsih: u16) {
        self.daemon.close_session(tsih);
    }

    fn nexus(&mut self, initiator: &str, isid: [u8; 6], target: TargetId) -> u16 {
        self.daemon.nexus(initiator, isid, target.0)
    }

    fn scsi_start(&mut self, target: TargetId, lun: Lun, req: &CommandRequest<'_>) -> Start {
        self.daemon.scsi_start(target.0, lun, req)
    }

    fn scsi_start_in(
        &mut self,
        target: TargetId,
        lun: Lun,
        req: &CommandRequest<'_>,
        task: &mut Option<ScsiTask>,
    ) -> Started {
        self.daemon.scsi_start_in(target.0, lun, req, task)
    }

    fn scsi_read(
        &mut self,
        target: TargetId,
        lun: Lun,
        task: &ScsiTask,
        offset: u32,
        buf: &mut [u8],
    ) -> Result<usize, Completion> {
        self.daemon.scsi_read(target.0, lun, task, offset, buf)
    }

    fn scsi_write(
        &mut self,
        target: TargetId,
        lun: Lun,
        task: &mut ScsiTask,
        offset: u32,
        data: &[u8],
    ) -> Result<(), Completion> {
        self.daemon.scsi_write(target.0, lun, task, offset, data)
    }

    fn scsi_abort(&mut self, target: TargetId, lun: Lun, task: &ScsiTask) {
        self.daemon.scsi_abort(target.0, lun, task);
    }

    fn scsi_finish(&mut self, target: TargetId, lun: Lun, task: &ScsiTask) -> Finish {
        self.daemon.scsi_finish(target.0, lun, task)
    }

    fn scsi_poll(
        &mut self,
        target: TargetId,
        lun: Lun,
        task: &ScsiTask,
        ticket: Ticket,
    ) -> Option<Completion> {
        self.daemon.scsi_poll(target.0, lun, task, ticket)
    }

    fn task_management(&mut self, target: TargetId, lun: Lun, function: u8, _nexus: u16) -> bool {
        self.daemon.task_management(target.0, lun, function)
    }
}
