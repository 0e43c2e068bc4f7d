//! Target-level SCSI answers: REPORT LUNS (SPC-4 §6.33), which the target answers for every
//! LUN from its LUN inventory, and commands addressed to a LUN that does not exist (SPC-4
//! §5.11.2 "incorrect logical unit selection"; SAM-5 §4.6.20 LUN encoding).
//!
//! Routing in the session: if the LUN has no logical unit, or
//! [`is_target_command`] is true, use [`start`] / [`read_data`] / [`finish`] here with the
//! LUN inventory visible to the I_T nexus (after LUN masking); otherwise the logical unit.

use super::cdb;
use super::commands::{self, Cmd, Opcode};
use super::completion::Completion;
use super::identity::LuIdentity;
use super::inquiry::{self, Inquiry};
use super::sense::{AdditionalSense, Sense};
use super::task::{CommandRequest, Op, ScsiTask, Start};
use super::window::{measure, Window};

/// True for commands the target answers itself whatever the LUN (REPORT LUNS).
pub fn is_target_command(cdb: &[u8]) -> bool {
    cdb.first() == Some(&Opcode::REPORT_LUNS.0)
}

/// The 8-byte LUN field (SAM-5 §4.6.6) for LUN number `n`: peripheral device addressing
/// below 256, flat space addressing (01b) up to 16383; larger numbers saturate.
pub fn lun_from_index(n: u16) -> u64 {
    let n = n.min(0x3fff);
    let field = if n < 256 { n } else { 0x4000 | n };
    u64::from(field) << 48
}

fn not_supported() -> Sense {
    Sense::illegal_request(AdditionalSense::LOGICAL_UNIT_NOT_SUPPORTED)
}

/// Begins REPORT LUNS (any LUN) or any command to a LUN that does not exist: INQUIRY returns
/// standard data with PERIPHERAL QUALIFIER 011b and type 1Fh, REQUEST SENSE returns LOGICAL
/// UNIT NOT SUPPORTED as parameter data (SPC-4 §6.29), everything else is CHECK CONDITION,
/// ILLEGAL REQUEST, LOGICAL UNIT NOT SUPPORTED. `luns` holds 8-byte LUN fields.
pub fn start(cmd: &CommandRequest<'_>, luns: &[u64]) -> Start {
    match start_inner(cmd, luns) {
        Ok(s) => s,
        Err(s) => Start::Done(Completion::check(s)),
    }
}

fn start_inner(cmd: &CommandRequest<'_>, luns: &[u64]) -> Result<Start, Sense> {
    let info = match commands::lookup(cmd.cdb) {
        Ok(i) if matches!(i.cmd, Cmd::ReportLuns | Cmd::Inquiry | Cmd::RequestSense) => i,
        _ => return Err(not_supported()),
    };
    if cmd.cdb.len() < info.usage.len() {
        return Err(Sense::invalid_field_in_cdb(0, None));
    }
    cdb::check_usage(cmd.cdb, info.usage)?;
    let c = cmd.cdb;
    let mut task = ScsiTask::new(info.cmd, Op::Generated, c, cmd.nexus);
    let alloc = match info.cmd {
        Cmd::ReportLuns => {
            // SELECT REPORT: 00h and 02h list our LUNs, 01h (well known only) is empty.
            if cdb::u8_at(c, 2) > 0x02 {
                return Err(Sense::invalid_field_in_cdb(2, Some(7)));
            }
            cdb::be32(c, 6)
        }
        Cmd::Inquiry => {
            let q = Inquiry::parse(c)?;
            if q.vpd.is_some() {
                return Err(not_supported());
            }
            q.alloc
        }
        _ => {
            if cdb::u8_at(c, 1) & 0x01 != 0 {
                return Err(Sense::invalid_field_in_cdb(1, Some(0)));
            }
            task.sense = Some(not_supported());
            u32::from(cdb::u8_at(c, 4))
        }
    };
    let total = measure(|w| generate(&task, luns, w));
    Ok(task.data_in(total.min(u64::from(alloc)), cmd.expected_read_len))
}

fn generate(task: &ScsiTask, luns: &[u64], w: &mut Window<'_>) {
    match task.cmd {
        Cmd::ReportLuns => {
            let select = cdb::u8_at(&task.cdb, 2);
            let listed: &[u64] = if select == 0x01 { &[] } else { luns };
            let len = (listed.len() as u64).saturating_mul(8);
            w.be32(u32::try_from(len).unwrap_or(u32::MAX));
            w.be32(0);
            for l in listed {
                w.be64(*l);
            }
        }
        Cmd::Inquiry => {
            inquiry::standard(&LuIdentity::new(0), 0x7f, None, w);
        }
        Cmd::RequestSense => {
            w.put(&task.sense.unwrap_or(not_supported()).to_bytes());
        }
        _ => {}
    }
}

/// Produces Data-In for a task begun by [`start`]; `luns` must be the list given to `start`.
pub fn read_data(
    task: &ScsiTask,
    luns: &[u64],
    offset: u32,
    buf: &mut [u8],
) -> Result<usize, Completion> {
    let n = task.clip(offset, buf.len());
    let Some(out) = buf.get_mut(..n) else {
        return Ok(0);
    };
    out.fill(0);
    generate(task, luns, &mut Window::new(u64::from(offset), out));
    Ok(n)
}

/// Ends a task begun by [`start`]: GOOD with its residual.
pub fn finish(task: &ScsiTask) -> Completion {
    Completion::GOOD.with_residual(task.residual())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scsi::completion::{Residual, Status};
    use crate::scsi::sense::SenseKey;
    use crate::scsi::task::NexusId;
    use std::vec;

    fn req(cdb: &[u8], exp: u32) -> CommandRequest<'_> {
        CommandRequest {
            cdb,
            expected_read_len: exp,
            expected_write_len: 0,
            nexus: NexusId(0),
        }
    }

    fn read_all(s: Start, luns: &[u64]) -> (std::vec::Vec<u8>, Completion) {
        match s {
            Start::DataIn { task, len } => {
                let mut v = vec![0u8; len as usize];
                // Produce in odd pieces.
                let mut off = 0usize;
                while off < v.len() {
                    let end = (off + 3).min(v.len());
                    let n = read_data(&task, luns, off as u32, &mut v[off..end]).unwrap();
                    assert_eq!(n, end - off);
                    off = end;
                }
                (v, finish(&task))
            }
            Start::Done(c) => (vec![], c),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn test_report_luns_lists_inventory() {
        let luns = [lun_from_index(0), lun_from_index(1), lun_from_index(300)];
        let cdb = [0xa0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0];
        let (d, c) = read_all(start(&req(&cdb, 256), &luns), &luns);
        assert_eq!(c.status, Status::GOOD);
        assert_eq!(c.residual, Residual::Under(256 - 32));
        assert_eq!(&d[..8], &[0, 0, 0, 24, 0, 0, 0, 0]);
        assert_eq!(&d[8..16], &[0; 8]);
        assert_eq!(&d[16..18], &[0, 1]);
        assert_eq!(&d[24..26], &[0x41, 0x2c]);
    }

    #[test]
    fn test_report_luns_truncated_and_bad_select() {
        let luns = [lun_from_index(0), lun_from_index(1)];
        let cdb = [0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0];
        let (d, c) = read_all(start(&req(&cdb, 16), &luns), &luns);
        assert_eq!(d.len(), 16);
        assert_eq!(
            &d[..4],
            &[0, 0, 0, 16],
            "LUN LIST LENGTH is the full length"
        );
        assert_eq!(c.residual, Residual::None);
        let bad = [0xa0, 0, 0x03, 0, 0, 0, 0, 0, 0, 16, 0, 0];
        let c = start(&req(&bad, 16), &luns).done().unwrap();
        assert_eq!(c.sense.unwrap().code, AdditionalSense::INVALID_FIELD_IN_CDB);
    }

    #[test]
    fn test_missing_lun_inquiry_and_others() {
        let cdb = [0x12, 0, 0, 0, 96, 0];
        let (d, c) = read_all(start(&req(&cdb, 96), &[]), &[]);
        assert!(c.is_good());
        assert_eq!(d[0], 0x7f, "PQ 011b, type 1Fh");
        let tur = [0u8; 6];
        let c = start(&req(&tur, 0), &[]).done().unwrap();
        assert_eq!(c.status, Status::CHECK_CONDITION);
        assert_eq!(
            c.sense.unwrap().code,
            AdditionalSense::LOGICAL_UNIT_NOT_SUPPORTED
        );
        let rs = [0x03, 0, 0, 0, 18, 0];
        let (d, c) = read_all(start(&req(&rs, 18), &[]), &[]);
        assert!(c.is_good());
        let s = Sense::parse(&d).unwrap();
        assert_eq!(s.key, SenseKey::ILLEGAL_REQUEST);
        assert_eq!(s.code, AdditionalSense::LOGICAL_UNIT_NOT_SUPPORTED);
    }
}
