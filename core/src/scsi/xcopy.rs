//! EXTENDED COPY (LID1) and RECEIVE COPY RESULTS (SPC-4 §6.4, §6.20; parameter list layout
//! of SPC-3 §6.3): block-to-block copies (segment descriptor 02h) between logical units named
//! by identification target descriptors (E4h). The logical unit running the command is the
//! copy manager; other logical units are reached through a [`CopyPeers`] hook.

use super::cdb;
use super::commands::CmdInfo;
use super::completion::Completion;
use super::device::{Access, BlockDevice, IoError};
use super::lu::{no_data, LogicalUnit, ScratchBuf};
use super::sense::{AdditionalSense, Sense, SenseKey};
use super::task::{CommandRequest, NexusId, Op, ScsiTask, Start};
use super::window::Window;

/// Most target descriptors in one parameter list.
const MAX_TARGET_DESCRIPTORS: u16 = 2;
/// Most segment descriptors in one parameter list.
const MAX_SEGMENT_DESCRIPTORS: u16 = 8;
/// Most blocks one segment may copy.
const MAX_SEGMENT_BLOCKS: u32 = 65535;
/// Descriptor type codes: block-to-block segment, identification target descriptor.
const SEG_BLOCK_TO_BLOCK: u8 = 0x02;
const TGT_IDENTIFICATION: u8 = 0xe4;

/// Other logical units of the target that EXTENDED COPY may read from or write to. Pass one
/// to [`LogicalUnit::finish_with_peers`]; [`LogicalUnit::finish`] copies only within the
/// logical unit itself.
pub trait CopyPeers {
    /// The peer whose designation descriptor (code set, association/type, reserved, length,
    /// designator, as in the Device Identification VPD page) is `designation`.
    fn resolve(&mut self, designation: &[u8]) -> Option<u16>;
    /// Block size of peer `peer`.
    fn block_size(&mut self, peer: u16) -> u32;
    /// Number of blocks of peer `peer`.
    fn num_blocks(&mut self, peer: u16) -> u64;
    /// Reads from peer `peer`.
    fn read_at(&mut self, peer: u16, byte_offset: u64, buf: &mut [u8]) -> Result<(), IoError>;
    /// Writes to peer `peer` (refusing if it is write protected).
    fn write_at(&mut self, peer: u16, byte_offset: u64, data: &[u8]) -> Result<(), IoError>;
}

/// No other logical units.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPeers;

impl CopyPeers for NoPeers {
    fn resolve(&mut self, _: &[u8]) -> Option<u16> {
        None
    }
    fn block_size(&mut self, _: u16) -> u32 {
        0
    }
    fn num_blocks(&mut self, _: u16) -> u64 {
        0
    }
    fn read_at(&mut self, _: u16, _: u64, _: &mut [u8]) -> Result<(), IoError> {
        Err(IoError::Other)
    }
    fn write_at(&mut self, _: u16, _: u64, _: &[u8]) -> Result<(), IoError> {
        Err(IoError::Other)
    }
}

/// Outcome of the last EXTENDED COPY that held its list identifier (COPY STATUS data). List
/// identifiers belong to the I_T nexus that sent the command (SPC-4 §6.4), so the status
/// is reported only there, and it is discarded when that nexus is lost or the logical unit is
/// reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CopyStatus {
    pub nexus: NexusId,
    pub list_id: u8,
    /// COPY MANAGER STATUS: 1 completed, 2 completed with error.
    pub status: u8,
    pub segments: u16,
    pub blocks: u32,
}

/// A copy source or destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endpoint {
    Local,
    Peer(u16),
}

fn copy_aborted(code: AdditionalSense) -> Completion {
    Completion::check(Sense::new(SenseKey::COPY_ABORTED, code))
}

impl<D: BlockDevice, const N: usize, B: ScratchBuf> LogicalUnit<D, N, B> {
    /// MAXIMUM DESCRIPTOR LIST LENGTH: the parameter list must fit the scratch buffer.
    fn max_descriptor_list_length(&self) -> u32 {
        u32::try_from(self.scratch.len().saturating_sub(16)).unwrap_or(u32::MAX)
    }

    /// EXTENDED COPY (LID1): the parameter list goes to the scratch buffer and the copy runs
    /// in `finish`. PARAMETER LIST LENGTH 0 is a no-op.
    pub(crate) fn start_xcopy(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let plen = cdb::be32(cmd.cdb, 10);
        if plen == 0 {
            return Ok(no_data(cmd));
        }
        if plen < 16 {
            return Err(Sense::illegal_request(
                AdditionalSense::PARAMETER_LIST_LENGTH_ERROR,
            ));
        }
        let task = self.new_task(info, Op::Buffered, cmd);
        self.start_buffered(task, u64::from(plen), cmd.expected_write_len)
    }

    /// Runs a buffered EXTENDED COPY against this logical unit and `peers`.
    pub(crate) fn finish_xcopy(
        &mut self,
        task: &ScsiTask,
        len: usize,
        peers: &mut dyn CopyPeers,
    ) -> Result<(), Completion> {
        let p = self.scratch.bytes().get(..len).unwrap_or(&[]);
        let list_id = cdb::u8_at(p, 0);
        let usage = (cdb::u8_at(p, 1) >> 3) & 0x03;
        let tdl = usize::from(cdb::be16(p, 2));
        let sdl = cdb::be32(p, 8) as usize;
        let inline = cdb::be32(p, 12) as usize;
        let illegal = |c: AdditionalSense| Completion::check(Sense::illegal_request(c));
        if 16usize
            .saturating_add(tdl)
            .saturating_add(sdl)
            .saturating_add(inline)
            > len
            || tdl.saturating_add(sdl) > self.max_descriptor_list_length() as usize
        {
            return Err(illegal(AdditionalSense::PARAMETER_LIST_LENGTH_ERROR));
        }
        if inline != 0 {
            return Err(Completion::check(Sense::invalid_field_in_parameter_list(
                12, None,
            )));
        }
        if tdl / 32 > usize::from(MAX_TARGET_DESCRIPTORS) {
            return Err(illegal(AdditionalSense::TOO_MANY_TARGET_DESCRIPTORS));
        }
        let targets = p.get(16..16usize.saturating_add(tdl)).unwrap_or(&[]);
        let segments_at = 16usize.saturating_add(tdl);
        // Resolve every target descriptor first.
        let mut eps = [Endpoint::Local; MAX_TARGET_DESCRIPTORS as usize];
        let naa = self.id.naa6();
        for (i, t) in targets.chunks_exact(32).enumerate() {
            if t.first() != Some(&TGT_IDENTIFICATION) {
                return Err(illegal(
                    AdditionalSense::UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE,
                ));
            }
            if cdb::u8_at(t, 1) & 0x1f != 0 {
                // Only direct-access block devices.
                return Err(copy_aborted(
                    AdditionalSense::COPY_TARGET_DEVICE_NOT_REACHABLE,
                ));
            }
            let des = t.get(4..24).unwrap_or(&[]);
            let des_len = usize::from(cdb::u8_at(des, 3)).min(16);
            let designator = des.get(4..4usize.saturating_add(des_len)).unwrap_or(&[]);
            let ours = cdb::u8_at(des, 1) & 0x0f == 3 && designator == naa;
            let ep = if ours {
                Endpoint::Local
            } else {
                match peers.resolve(des) {
                    Some(x) => Endpoint::Peer(x),
                    None => {
                        return Err(copy_aborted(
                            AdditionalSense::COPY_TARGET_DEVICE_NOT_REACHABLE,
                        ))
                    }
                }
            };
            if let Some(slot) = eps.get_mut(i) {
                *slot = ep;
            }
        }
        let n_targets = targets.len() / 32;
        // Walk the segment descriptors (each announces its own length).
        let mut at = segments_at;
        let end = segments_at.saturating_add(sdl);
        let mut count = 0u16;
        let mut segs = [(Endpoint::Local, Endpoint::Local, 0u32, 0u64, 0u64);
            MAX_SEGMENT_DESCRIPTORS as usize];
        while at < end {
            let s = self.scratch.bytes().get(at..end).unwrap_or(&[]);
            let kind = cdb::u8_at(s, 0);
            let dlen = usize::from(cdb::be16(s, 2)).saturating_add(4);
            if kind != SEG_BLOCK_TO_BLOCK {
                return Err(illegal(
                    AdditionalSense::UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE,
                ));
            }
            if dlen != 28 || s.len() < dlen {
                return Err(illegal(AdditionalSense::PARAMETER_LIST_LENGTH_ERROR));
            }
            if count >= MAX_SEGMENT_DESCRIPTORS {
                return Err(illegal(AdditionalSense::TOO_MANY_SEGMENT_DESCRIPTORS));
            }
            let (si, di) = (usize::from(cdb::be16(s, 4)), usize::from(cdb::be16(s, 6)));
            if si >= n_targets || di >= n_targets {
                return Err(copy_aborted(
                    AdditionalSense::COPY_TARGET_DEVICE_NOT_REACHABLE,
                ));
            }
            let blocks = u32::from(cdb::be16(s, 10));
            let src = eps.get(si).copied().unwrap_or(Endpoint::Local);
            let dst = eps.get(di).copied().unwrap_or(Endpoint::Local);
            if let Some(slot) = segs.get_mut(usize::from(count)) {
                *slot = (src, dst, blocks, cdb::be64(s, 12), cdb::be64(s, 20));
            }
            count = count.saturating_add(1);
            at = at.saturating_add(dlen);
        }
        let mut done_blocks = 0u32;
        let mut processed = 0u16;
        let mut result = Ok(());
        for &(src, dst, blocks, slba, dlba) in segs.iter().take(usize::from(count)) {
            result = self.copy_segment(peers, src, dst, blocks, slba, dlba);
            if result.is_err() {
                break;
            }
            processed = processed.saturating_add(1);
            done_blocks = done_blocks.saturating_add(blocks);
        }
        if usage & 0x02 == 0 {
            self.copy_status = Some(CopyStatus {
                nexus: task.nexus,
                list_id,
                status: if result.is_ok() { 1 } else { 2 },
                segments: processed,
                blocks: done_blocks,
            });
        }
        result
    }

    fn ep_geometry(&self, peers: &mut dyn CopyPeers, ep: Endpoint) -> (u32, u64) {
        match ep {
            Endpoint::Local => (self.block_size(), self.dev.num_blocks()),
            Endpoint::Peer(i) => (peers.block_size(i), peers.num_blocks(i)),
        }
    }

    /// Copies `blocks` blocks from `src`@`slba` to `dst`@`dlba`, backwards when a local
    /// overlap would otherwise overwrite unread source.
    fn copy_segment(
        &mut self,
        peers: &mut dyn CopyPeers,
        src: Endpoint,
        dst: Endpoint,
        blocks: u32,
        slba: u64,
        dlba: u64,
    ) -> Result<(), Completion> {
        if blocks == 0 {
            return Ok(());
        }
        let (sbs, sblocks) = self.ep_geometry(peers, src);
        let (dbs, dblocks) = self.ep_geometry(peers, dst);
        let n = u64::from(blocks);
        let inside = |lba: u64, total: u64| lba.checked_add(n).is_some_and(|e| e <= total);
        if sbs != dbs
            || blocks > MAX_SEGMENT_BLOCKS
            || !inside(slba, sblocks)
            || !inside(dlba, dblocks)
        {
            return Err(copy_aborted(AdditionalSense::NO_ADDITIONAL_SENSE));
        }
        if dst == Endpoint::Local {
            self.check_writable().map_err(Completion::check)?;
        }
        let bs = u64::from(sbs);
        let total = n.saturating_mul(bs);
        let (s0, d0) = (slba.saturating_mul(bs), dlba.saturating_mul(bs));
        let backwards = src == dst && d0 > s0 && d0 < s0.saturating_add(total);
        let mut chunk = [0u8; 512];
        let mut done = 0u64;
        let fua = self.write_through(false);
        while done < total {
            let k = total.saturating_sub(done).min(chunk.len() as u64);
            let off = if backwards {
                total.saturating_sub(done).saturating_sub(k)
            } else {
                done
            };
            let buf = chunk
                .get_mut(..usize::try_from(k).unwrap_or(0))
                .unwrap_or(&mut []);
            let r = match src {
                Endpoint::Local => self.dev.read_at(s0.saturating_add(off), buf),
                Endpoint::Peer(i) => peers.read_at(i, s0.saturating_add(off), buf),
            };
            r.map_err(|e| Completion::check(e.sense(Access::Read)))?;
            let w = match dst {
                Endpoint::Local => self.dev.write_at(d0.saturating_add(off), buf, fua),
                Endpoint::Peer(i) => peers.write_at(i, d0.saturating_add(off), buf),
            };
            w.map_err(|e| Completion::check(e.sense(Access::Write)))?;
            done = done.saturating_add(k.max(1));
        }
        Ok(())
    }

    /// RECEIVE COPY RESULTS: COPY STATUS (00h) for the held list identifier, OPERATING
    /// PARAMETERS (03h).
    pub(crate) fn start_receive_copy_results(
        &mut self,
        info: &CmdInfo,
        cmd: &CommandRequest<'_>,
    ) -> Result<Start, Sense> {
        let c = cmd.cdb;
        if cdb::u8_at(c, 1) & 0x1f == 0 {
            let id = cdb::u8_at(c, 2);
            if self
                .copy_status
                .is_none_or(|s| s.list_id != id || s.nexus != cmd.nexus)
            {
                return Err(Sense::invalid_field_in_cdb(2, None));
            }
        }
        Ok(self.generated(info, cmd, cdb::be32(c, 10), None))
    }

    pub(crate) fn copy_results_data(&self, task: &ScsiTask, w: &mut Window<'_>) {
        if task.cdb[1] & 0x1f == 0 {
            let s = self.copy_status.unwrap_or(CopyStatus {
                nexus: task.nexus,
                list_id: 0,
                status: 0,
                segments: 0,
                blocks: 0,
            });
            w.be32(8);
            w.u8(s.status & 0x7f);
            w.be16(s.segments);
            w.u8(0); // TRANSFER COUNT UNITS: bytes
            let bytes = u64::from(s.blocks).saturating_mul(u64::from(self.block_size()));
            w.be32(u32::try_from(bytes).unwrap_or(u32::MAX));
            return;
        }
        // OPERATING PARAMETERS (SPC-3 table 113).
        let types = [SEG_BLOCK_TO_BLOCK, TGT_IDENTIFICATION];
        w.be32(u32::try_from(44usize.saturating_sub(4).saturating_add(types.len())).unwrap_or(0));
        w.put(&[0, 0, 0, 0]); // SNLID 0
        w.be16(MAX_TARGET_DESCRIPTORS);
        w.be16(MAX_SEGMENT_DESCRIPTORS);
        w.be32(self.max_descriptor_list_length());
        w.be32(MAX_SEGMENT_BLOCKS.saturating_mul(self.block_size()));
        w.be32(0); // MAXIMUM INLINE DATA LENGTH
        w.be32(0); // HELD DATA LIMIT
        w.be32(0); // MAXIMUM STREAM DEVICE TRANSFER SIZE
        w.be16(0);
        w.be16(1); // TOTAL CONCURRENT COPIES
        w.u8(1); // MAXIMUM CONCURRENT COPIES
        w.u8(u8::try_from(self.block_size().trailing_zeros()).unwrap_or(9)); // DATA SEGMENT GRANULARITY
        w.u8(0);
        w.u8(0);
        w.put(&[0, 0, 0]);
        w.u8(types.len() as u8);
        w.put(&types);
    }
}
