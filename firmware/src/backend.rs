//! The target's backend in firmware: every target of the configuration with its RAM logical
//! units in static memory, AuthMethod None, every initiator admitted (the session layer's
//! `TargetBackend`, RFC 7143 §4.2 / §12; SCSI through the core's SBC emulation, REPORT LUNS
//! and absent LUNs answered by the target, SPC-4 §6.33 / §4.6.4).

use iser_core::config::{IpAddress, List, PortalConfig, MAX_PORTALS};
use iser_core::scsi::{
    target, CommandRequest, Completion, Finish, LogicalUnit, LuConfig, LuIdentity, RamDisk,
    ScsiTask, Start, Started, Ticket,
};
use iser_core::session::{AuthPolicy, SessionRefused, TargetBackend, TargetId, TargetListing};
use iser_core::wire::Lun;

use crate::config::FwConfig;

/// One RAM logical unit and where it is served.
#[derive(Debug)]
pub struct FwLu {
    /// The target it belongs to.
    pub target: TargetId,
    /// Its LUN (8-byte field).
    pub lun: Lun,
    /// The logical unit.
    pub lu: LogicalUnit<RamDisk<'static>>,
}

/// Up to `TARGETS` targets with up to `LUS` RAM logical units among them.
#[derive(Debug)]
pub struct FwTarget<const TARGETS: usize, const LUS: usize> {
    names: [&'static str; TARGETS],
    targets: usize,
    lus: [Option<FwLu>; LUS],
    portals: List<PortalConfig, MAX_PORTALS>,
    /// Sessions opened.
    pub sessions_opened: u16,
    /// Sessions ended.
    pub sessions_ended: u16,
}

impl<const TARGETS: usize, const LUS: usize> FwTarget<TARGETS, LUS> {
    /// Every target and LUN of `config`, the LUs carved in order out of `mem`. `None` when
    /// they do not fit (more targets than `TARGETS`, more LUs than `LUS`, more bytes than
    /// `mem`): [`FwConfig::validate`] refuses such a configuration first.
    pub fn new(config: &FwConfig<'static>, mem: &'static mut [u8]) -> Option<Self> {
        if config.targets.len() > TARGETS || config.lu_count() > LUS {
            return None;
        }
        let mut names = [""; TARGETS];
        for (slot, t) in names.iter_mut().zip(config.targets.iter()) {
            *slot = t.name;
        }
        let mut luns = config.targets.iter().enumerate().flat_map(|(i, t)| {
            t.luns
                .iter()
                .map(move |l| (TargetId(u16::try_from(i).unwrap_or(u16::MAX)), *l))
        });
        let mut rest = mem;
        let mut fits = true;
        let mut device_id = config.lu.device_id;
        let lus = core::array::from_fn(|_| {
            let (target, l) = luns.next()?;
            let bytes = l.bytes().and_then(|b| usize::try_from(b).ok());
            let Some(bytes) = bytes.filter(|&b| b <= rest.len()) else {
                fits = false;
                return None;
            };
            let (mine, others) = core::mem::take(&mut rest).split_at_mut(bytes);
            rest = others;
            let Ok(disk) = RamDisk::new(mine, l.block_size) else {
                fits = false;
                return None;
            };
            let lu_config = LuConfig {
                max_transfer_blocks: config.lu.max_transfer_blocks,
                ..LuConfig::default()
            };
            let identity = LuIdentity::new(device_id);
            device_id = device_id.wrapping_add(1);
            Some(FwLu {
                target,
                lun: Lun(target::lun_from_index(l.id)),
                lu: LogicalUnit::new(disk, identity, lu_config),
            })
        });
        fits.then_some(FwTarget {
            names,
            targets: config.targets.len(),
            lus,
            portals: config.portals,
            sessions_opened: 0,
            sessions_ended: 0,
        })
    }

    /// The logical units, in configuration order.
    pub fn lus(&self) -> impl Iterator<Item = &FwLu> {
        self.lus.iter().flatten()
    }

    /// The logical unit behind `lun` of `target`.
    pub fn lu_mut(&mut self, target: TargetId, lun: Lun) -> Option<&mut FwLu> {
        self.lus
            .iter_mut()
            .flatten()
            .find(|l| l.target == target && l.lun == lun)
    }

    /// The LUN fields `target` lists in REPORT LUNS, and how many.
    fn lun_fields(&self, target: TargetId) -> ([u64; LUS], usize) {
        let mut fields = [0u64; LUS];
        let mut n = 0usize;
        for (slot, l) in fields
            .iter_mut()
            .zip(self.lus().filter(|l| l.target == target))
        {
            *slot = l.lun.0;
            n = n.saturating_add(1);
        }
        (fields, n)
    }
}

impl<const TARGETS: usize, const LUS: usize> TargetBackend for FwTarget<TARGETS, LUS> {
    fn find_target(&self, name: &str) -> Option<TargetId> {
        let i = self
            .names
            .iter()
            .take(self.targets)
            .position(|n| *n == name)?;
        u16::try_from(i).ok().map(TargetId)
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
        // RFC 7143 §13.8: each target with every portal it is reachable through.
        let mut buf = [0u8; TARGET_ADDRESS_LEN];
        for name in self.names.iter().take(self.targets) {
            for p in self.portals.iter() {
                f(TargetListing {
                    name,
                    address: target_address(p, &mut buf),
                });
            }
        }
    }
    fn portal_group_tag(&self, _: TargetId) -> u16 {
        self.portals.first().map_or(1, |p| p.group_tag)
    }
    fn new_session(
        &mut self,
        _: &str,
        _: [u8; 6],
        _: Option<TargetId>,
    ) -> Result<u16, SessionRefused> {
        self.sessions_opened = self.sessions_opened.wrapping_add(1).max(1);
        Ok(self.sessions_opened)
    }
    fn end_session(&mut self, _: u16) {
        self.sessions_ended = self.sessions_ended.wrapping_add(1);
    }
    fn nexus(&mut self, _: &str, _: [u8; 6], _: TargetId) -> u16 {
        0
    }
    fn scsi_start(&mut self, t: TargetId, lun: Lun, req: &CommandRequest<'_>) -> Start {
        let mut slot = None;
        self.scsi_start_in(t, lun, req, &mut slot).with_task(slot)
    }
    fn scsi_start_in(
        &mut self,
        t: TargetId,
        lun: Lun,
        req: &CommandRequest<'_>,
        task: &mut Option<ScsiTask>,
    ) -> Started {
        if !target::is_target_command(req.cdb) {
            if let Some(l) = self.lu_mut(t, lun) {
                return l.lu.start_in(req, task);
            }
        }
        let (fields, n) = self.lun_fields(t);
        target::start(req, fields.get(..n).unwrap_or(&[])).place(task)
    }
    fn scsi_read(
        &mut self,
        t: TargetId,
        lun: Lun,
        task: &ScsiTask,
        off: u32,
        buf: &mut [u8],
    ) -> Result<usize, Completion> {
        if !task.is_target_task() {
            if let Some(l) = self.lu_mut(t, lun) {
                return l.lu.read_data(task, off, buf);
            }
        }
        let (fields, n) = self.lun_fields(t);
        target::read_data(task, fields.get(..n).unwrap_or(&[]), off, buf)
    }
    fn scsi_write(
        &mut self,
        t: TargetId,
        lun: Lun,
        task: &mut ScsiTask,
        off: u32,
        data: &[u8],
    ) -> Result<(), Completion> {
        match self.lu_mut(t, lun) {
            Some(l) => l.lu.write_data(task, off, data),
            // `target::start` begins no command with Data-Out.
            None => Ok(()),
        }
    }
    fn scsi_abort(&mut self, t: TargetId, lun: Lun, task: &ScsiTask) {
        if let Some(l) = self.lu_mut(t, lun) {
            l.lu.abort(task);
        }
    }
    fn scsi_finish(&mut self, t: TargetId, lun: Lun, task: &ScsiTask) -> Finish {
        match self.lu_mut(t, lun) {
            Some(l) if !task.is_target_task() => l.lu.finish(task).into(),
            _ => target::finish(task).into(),
        }
    }
    fn scsi_poll(
        &mut self,
        t: TargetId,
        lun: Lun,
        task: &ScsiTask,
        ticket: Ticket,
    ) -> Option<Completion> {
        self.lu_mut(t, lun)?.lu.deferred_status(task, ticket)
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
    use crate::config::tests::default_config;
    use iser_core::config::Transport;
    use iser_core::scsi::{BlockDevice, NexusId};
    use std::boxed::Box;
    use std::string::String;
    use std::vec;
    use std::vec::Vec;

    fn backend() -> FwTarget<2, 4> {
        let mem = Box::leak(vec![0u8; 2 << 20].into_boxed_slice());
        FwTarget::new(&default_config(), mem).unwrap()
    }

    fn report_luns(b: &mut FwTarget<2, 4>, t: TargetId) -> Vec<u8> {
        let cdb = [0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 72, 0, 0];
        let req = CommandRequest {
            cdb: &cdb,
            expected_read_len: 72,
            expected_write_len: 0,
            nexus: NexusId(0),
        };
        let Start::DataIn { task, len } = b.scsi_start(t, Lun(0), &req) else {
            panic!("REPORT LUNS has data");
        };
        let mut data = vec![0u8; len as usize];
        assert_eq!(b.scsi_read(t, Lun(0), &task, 0, &mut data), Ok(data.len()));
        assert!(matches!(b.scsi_finish(t, Lun(0), &task), Finish::Done(c) if c.is_good()));
        data
    }

    #[test]
    fn test_every_target_and_lun_is_served() {
        let mut b = backend();
        assert_eq!(b.find_target("iqn.2026-11.rs.iser:dpu0"), Some(TargetId(0)));
        assert_eq!(b.find_target("iqn.2026-11.rs.iser:dpu1"), Some(TargetId(1)));
        assert_eq!(b.find_target("iqn.2026-11.rs.iser:dpu2"), None);
        assert_eq!(b.find_target(""), None, "unused name slots match nothing");
        let mut listed = Vec::new();
        b.for_each_target("i", &mut |l| {
            listed.push((String::from(l.name), String::from(l.address)))
        });
        assert_eq!(
            listed,
            [
                ("iqn.2026-11.rs.iser:dpu0".into(), "192.0.2.1:3260,1".into()),
                ("iqn.2026-11.rs.iser:dpu1".into(), "192.0.2.1:3260,1".into()),
            ]
        );
        let lun = |n| Lun(target::lun_from_index(n));
        let d = report_luns(&mut b, TargetId(0));
        assert_eq!(&d[..8], &[0, 0, 0, 16, 0, 0, 0, 0]);
        assert_eq!(&d[8..16], &lun(0).0.to_be_bytes());
        assert_eq!(&d[16..24], &lun(1).0.to_be_bytes());
        let d = report_luns(&mut b, TargetId(1));
        assert_eq!(&d[..16], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0]);
        // Each LU has its own memory, block size and capacity.
        let sizes: Vec<_> = b
            .lus()
            .map(|l| {
                (
                    l.target,
                    l.lun,
                    l.lu.device().block_size(),
                    l.lu.device().num_blocks(),
                )
            })
            .collect();
        assert_eq!(
            sizes,
            [
                (TargetId(0), lun(0), 512, 2048),
                (TargetId(0), lun(1), 4096, 64),
                (TargetId(1), lun(3), 512, 1024),
            ]
        );
        assert!(b.lu_mut(TargetId(1), lun(0)).is_none(), "LUN 0 is dpu0's");
    }

    #[test]
    fn test_more_than_capacity_is_refused() {
        let mem = Box::leak(vec![0u8; 2 << 20].into_boxed_slice());
        assert!(FwTarget::<1, 4>::new(&default_config(), mem).is_none());
        let mem = Box::leak(vec![0u8; 2 << 20].into_boxed_slice());
        assert!(FwTarget::<2, 2>::new(&default_config(), mem).is_none());
        let mem = Box::leak(vec![0u8; 1 << 20].into_boxed_slice());
        assert!(FwTarget::<2, 4>::new(&default_config(), mem).is_none());
    }

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
