//! The target's backend in firmware: one target, one RAM logical unit in static memory,
//! AuthMethod None, every initiator admitted (the session layer's `TargetBackend`, RFC 7143
//! §4.2 / §12; SCSI through the core's SBC emulation).

use iser_core::scsi::{
    target, CommandRequest, Completion, Finish, LogicalUnit, LuConfig, LuIdentity, RamDisk, ScsiTask, Start, Ticket,
};
use iser_core::session::{AuthPolicy, SessionRefused, TargetBackend, TargetId, TargetListing};
use iser_core::wire::Lun;

use crate::config::FwConfig;

/// One RAM LU behind one target.
#[derive(Debug)]
pub struct FwTarget {
    /// The logical unit.
    pub lu: LogicalUnit<RamDisk<'static>>,
    name: &'static str,
    portal: &'static str,
    lun: Lun,
    /// Sessions opened.
    pub sessions_opened: u16,
    /// Sessions ended.
    pub sessions_ended: u16,
}

impl FwTarget {
    /// A target over `mem` (already trimmed to the configured size). `None` when `mem` is not a
    /// whole number of blocks.
    pub fn new(config: &FwConfig<'static>, mem: &'static mut [u8]) -> Option<FwTarget> {
        let disk = RamDisk::new(mem, config.lun.block_size).ok()?;
        let lu_config = LuConfig {
            max_transfer_blocks: config.lun.max_transfer_blocks,
            ..LuConfig::default()
        };
        Some(FwTarget {
            lu: LogicalUnit::new(disk, LuIdentity::new(config.lun.device_id), lu_config),
            name: config.target_name,
            portal: config.portal,
            lun: Lun(target::lun_from_index(config.lun.lun)),
            sessions_opened: 0,
            sessions_ended: 0,
        })
    }
}

impl TargetBackend for FwTarget {
    fn find_target(&self, name: &str) -> Option<TargetId> {
        (name == self.name).then_some(TargetId(0))
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
            name: self.name,
            address: self.portal,
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
        self.sessions_opened = self.sessions_opened.wrapping_add(1);
        Ok(self.sessions_opened)
    }
    fn end_session(&mut self, _: u16) {
        self.sessions_ended = self.sessions_ended.wrapping_add(1);
    }
    fn nexus(&mut self, _: &str, _: [u8; 6], _: TargetId) -> u16 {
        0
    }
    fn scsi_start(&mut self, _: TargetId, lun: Lun, req: &CommandRequest<'_>) -> Start {
        if lun != self.lun || target::is_target_command(req.cdb) {
            // REPORT LUNS, and any command to a LUN that does not exist (SPC-4 §6.33, §4.6.4).
            return target::start(req, &[self.lun.0]);
        }
        self.lu.start(req)
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
    fn scsi_poll(&mut self, _: TargetId, _: Lun, t: &ScsiTask, ticket: Ticket) -> Option<Completion> {
        self.lu.deferred_status(t, ticket)
    }
    fn task_management(&mut self, _: TargetId, _: Lun, _: u8, _: u16) -> bool {
        true
    }
}
