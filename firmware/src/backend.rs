//! The target's backend in firmware: one target, one RAM logical unit in static memory,
//! AuthMethod None, every initiator admitted (the session layer's `TargetBackend`, RFC 7143
//! §4.2 / §12; SCSI through the core's SBC emulation).

use iser_core::scsi::{
    target, CommandRequest, Completion, Finish, LogicalUnit, LuConfig, LuIdentity, RamDisk, ScsiTask, Start, Ticket,
};
use iser_core::session::{AuthPolicy, SessionRefused, TargetBackend, TargetId, TargetListing};
use iser_core::wire::Lun;

use iser_core::config::{IpAddress, PortalConfig};

use crate::config::FwConfig;

/// One RAM LU behind one target.
#[derive(Debug)]
pub struct FwTarget {
    /// The logical unit.
    pub lu: LogicalUnit<RamDisk<'static>>,
    name: &'static str,
    portal: PortalConfig,
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
        let mut buf = [0u8; TARGET_ADDRESS_LEN];
        f(TargetListing {
            name: self.name,
            address: target_address(&self.portal, &mut buf),
        });
    }
    fn portal_group_tag(&self, _: TargetId) -> u16 {
        self.portal.group_tag
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

/// Longest TargetAddress [`target_address`] writes: `[` 8×4 hex digits, 7 `:`, `]:65535,65535`.
pub const TARGET_ADDRESS_LEN: usize = 53;

/// The SendTargets TargetAddress of `p` (RFC 7143 §13.8: `host:port,portal-group-tag`, IPv6 in
/// brackets), written into `buf` without `core::fmt`.
pub fn target_address<'b>(p: &PortalConfig, buf: &'b mut [u8; TARGET_ADDRESS_LEN]) -> &'b str {
    let mut w = Cursor { buf, at: 0 };
    match p.address {
        IpAddress::V4(a) => {
            for (i, octet) in a.iter().enumerate() {
                if i > 0 {
                    w.put(b".");
                }
                w.number(u32::from(*octet), 10);
            }
        }
        IpAddress::V6(a) => {
            w.put(b"[");
            for (i, pair) in a.chunks_exact(2).enumerate() {
                if i > 0 {
                    w.put(b":");
                }
                let group = pair.iter().fold(0u32, |g, &b| (g << 8) | u32::from(b));
                w.number(group, 16);
            }
            w.put(b"]");
        }
    }
    w.put(b":");
    w.number(u32::from(p.port), 10);
    w.put(b",");
    w.number(u32::from(p.group_tag), 10);
    let Cursor { buf, at } = w;
    buf.get(..at)
        .and_then(|b| core::str::from_utf8(b).ok())
        .unwrap_or("")
}

struct Cursor<'b> {
    buf: &'b mut [u8; TARGET_ADDRESS_LEN],
    at: usize,
}

impl Cursor<'_> {
    fn put(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if let Some(slot) = self.buf.get_mut(self.at) {
                *slot = b;
                self.at = self.at.saturating_add(1);
            }
        }
    }

    fn number(&mut self, mut n: u32, radix: u32) {
        let mut digits = [0u8; 10];
        let mut len = 0;
        loop {
            let d = n.checked_rem(radix).unwrap_or(0);
            if let Some(slot) = digits.get_mut(len) {
                *slot = b"0123456789abcdef".get(d as usize).copied().unwrap_or(b'?');
            }
            len = len.saturating_add(1);
            n = n.checked_div(radix).unwrap_or(0);
            if n == 0 || len == digits.len() {
                break;
            }
        }
        for &b in digits.get(..len).unwrap_or(&[]).iter().rev() {
            self.put(&[b]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iser_core::config::Transport;

    #[test]
    fn test_target_address_v4_and_v6() {
        let mut buf = [0u8; TARGET_ADDRESS_LEN];
        let mut p = PortalConfig {
            address: IpAddress::V4([192, 0, 2, 1]),
            port: 3260,
            group_tag: 1,
            transport: Transport::Auto,
        };
        assert_eq!(target_address(&p, &mut buf), "192.0.2.1:3260,1");
        let mut v6 = [0u8; 16];
        v6[0] = 0xfe;
        v6[1] = 0x80;
        v6[15] = 0x01;
        p.address = IpAddress::V6(v6);
        p.port = 65535;
        p.group_tag = 65535;
        assert_eq!(
            target_address(&p, &mut buf),
            "[fe80:0:0:0:0:0:0:1]:65535,65535"
        );
        p.address = IpAddress::V6([0xff; 16]);
        let full = target_address(&p, &mut buf);
        assert_eq!(full.len(), TARGET_ADDRESS_LEN);
        assert!(full.ends_with("ffff]:65535,65535"));
    }
}
