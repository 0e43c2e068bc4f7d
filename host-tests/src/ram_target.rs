//! A `TargetBackend` over one RAM logical unit, for end-to-end tests that run a target engine in
//! process: one target, LUN 0, AuthMethod None, every initiator allowed.

use iser_core::scsi::{
    CommandRequest, Completion, Finish, LogicalUnit, LuConfig, LuIdentity, RamDisk, ScsiTask,
    Start, Started, Ticket,
};
use iser_core::session::{AuthPolicy, SessionRefused, TargetBackend, TargetId, TargetListing};
use iser_core::wire::Lun;

/// The target's name.
pub const TARGET_NAME: &str = "iqn.2026-11.rs.iser:test-target";

/// One RAM LU behind the target.
#[derive(Debug)]
pub struct RamTarget {
    /// The logical unit (tests read its disk to check data at rest).
    pub lu: LogicalUnit<RamDisk<'static>>,
    /// Sessions opened.
    pub sessions_opened: u16,
    /// Sessions ended.
    pub sessions_ended: u16,
}

impl RamTarget {
    /// A target with a RAM LU of `bytes` (a multiple of 512).
    pub fn new(bytes: usize) -> RamTarget {
        let mem: &'static mut [u8] = Vec::leak(vec![0u8; bytes]);
        #[allow(clippy::expect_used)] // test fixture: a bad size is a bug in the test itself
        let disk = RamDisk::new(mem, 512).expect("RAM disk size is a multiple of 512");
        RamTarget {
            lu: LogicalUnit::new(disk, LuIdentity::new(0x1234), LuConfig::default()),
            sessions_opened: 0,
            sessions_ended: 0,
        }
    }
}

impl TargetBackend for RamTarget {
    fn find_target(&self, name: &str) -> Option<TargetId> {
        (name == TARGET_NAME).then_some(TargetId(0))
    }
    fn may_access(&self, _: TargetId, _: &str) -> bool {
        true
    }
    fn auth_policy(&self, _: TargetId) -> AuthPolicy<'_> {
        AuthPolicy::None
    }
    fn discovery_auth_policy(&self) -> AuthPolicy<'_> {
        AuthPolicy::None
    }
    fn for_each_target(&self, _: &str, f: &mut dyn FnMut(TargetListing<'_>)) {
        f(TargetListing {
            name: TARGET_NAME,
            address: "127.0.0.1:3260,1",
        });
    }
    fn portal_group_tag(&self, _: TargetId) -> u16 {
        1
    }
    fn new_session(
        &mut self,
        _: &str,
        _: [u8; 6],
        _: Option<TargetId>,
    ) -> Result<u16, SessionRefused> {
        // TSIH 0 is reserved (RFC 7143 §11.12.6); wrap past it in long fuzz runs.
        self.sessions_opened = self.sessions_opened.wrapping_add(1).max(1);
        Ok(self.sessions_opened)
    }
    fn end_session(&mut self, _: u16) {
        self.sessions_ended = self.sessions_ended.wrapping_add(1);
    }
    fn nexus(&mut self, _: &str, _: [u8; 6], _: TargetId) -> u16 {
        0
    }
    fn scsi_start(&mut self, _: TargetId, _: Lun, req: &CommandRequest<'_>) -> Start {
        self.lu.start(req)
    }
    fn scsi_start_in(
        &mut self,
        _: TargetId,
        _: Lun,
        req: &CommandRequest<'_>,
        task: &mut Option<ScsiTask>,
    ) -> Started {
        self.lu.start_in(req, task)
    }
    fn scsi_read(
        &mut self,
        _: TargetId,
        _: Lun,
        t: &ScsiTask,
        off: u32,
        buf: &mut [u8],
    ) -> Result<usize, Completion> {
        self.lu.read_data(t, off, buf)
    }
    fn scsi_write(
        &mut self,
        _: TargetId,
        _: Lun,
        t: &mut ScsiTask,
        off: u32,
        data: &[u8],
    ) -> Result<(), Completion> {
        self.lu.write_data(t, off, data)
    }
    fn scsi_abort(&mut self, _: TargetId, _: Lun, t: &ScsiTask) {
        self.lu.abort(t);
    }
    fn scsi_finish(&mut self, _: TargetId, _: Lun, t: &ScsiTask) -> Finish {
        self.lu.finish(t).into()
    }
    fn scsi_poll(
        &mut self,
        _: TargetId,
        _: Lun,
        t: &ScsiTask,
        ticket: Ticket,
    ) -> Option<Completion> {
        self.lu.deferred_status(t, ticket)
    }
    fn task_management(&mut self, _: TargetId, _: Lun, _: u8, _: u16) -> bool {
        true
    }
}
