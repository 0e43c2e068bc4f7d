//! Unexpected-PDU credits (RFC 7145 §6.5 MaxOutstandingUnexpectedPDUs, §8.1 flow control of
//! Send messages): control PDUs a peer sends unasked, each holding one of the receiver's posted
//! receive buffers until it is answered.
//!
//! Counted, initiator to target: SCSI Command, Task Management Function Request, Text Request,
//! Logout Request and NOP-Out with an ITT (a ping), each outstanding until the target answers
//! that ITT (its response, or a Reject of the PDU); a task management response also retires the
//! tasks it aborted. Counted, target to initiator: NOP-In with a TTT (a ping), outstanding until
//! the NOP-Out echoing it. Not counted: NOPs that answer a ping (expected PDUs), unidirectional
//! NOPs and Asynchronous Messages (nothing answers them, so nothing could retire them), SNACK
//! (error recovery level 0 only) and SCSI Data-Out (unsolicited data rides on its counted task).
//!
//! This project's negotiation resolves MaxOutstandingUnexpectedPDUs to one session-wide value,
//! the smaller declaration (0 = no limit); both engines hold both directions to it.

use crate::wire::{Opcode, BHS_LEN, RESERVED_TAG};

/// What a counted PDU waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A response (or Reject) carrying this ITT; `task` for a SCSI Command, `tmf` for a task
    /// management request that ends other tasks.
    Response {
        itt: u32,
        task: bool,
        tmf: Option<Aborts>,
    },
    /// A NOP-Out echoing this TTT.
    Echo { ttt: u32 },
}

/// The tasks a task management function ends without a SCSI Response (RFC 7143 §11.5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Aborts {
    /// ABORT TASK: the referenced task.
    One(u32),
    /// ABORT TASK SET, CLEAR TASK SET, LUN RESET, TARGET WARM/COLD RESET: every task (retiring
    /// tasks of other LUNs early only makes the count more lenient).
    All,
}

/// What a PDU retires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A response for this ITT.
    Itt(u32),
    /// A NOP-Out echoing this TTT.
    Echo(u32),
}

/// The peer declared (or we agreed on) fewer outstanding unexpected PDUs than this one makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Overrun;

fn word(pdu: &[u8], at: usize) -> Option<u32> {
    pdu.get(at..at.checked_add(4)?)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_be_bytes)
}

fn opcode(pdu: &[u8]) -> Option<Opcode> {
    pdu.first().map(|b| Opcode(b & Opcode::MASK))
}

/// The wait of an unexpected PDU an initiator sends, `None` for any other PDU.
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn request(pdu: &[u8]) -> Option<Wait> {
    let op = opcode(pdu)?;
    let itt = word(pdu, 16)?;
    let response = |task, tmf| Wait::Response { itt, task, tmf };
    match op {
        Opcode::NOP_OUT if itt != RESERVED_TAG => Some(response(false, None)),
        Opcode::SCSI_COMMAND => Some(response(true, None)),
        Opcode::TASK_MGMT_REQUEST => {
            let tmf = match pdu.get(1).map(|b| b & 0x7f) {
                Some(1) => word(pdu, 20).map(Aborts::One),
                Some(2 | 4..=7) => Some(Aborts::All),
                _ => None,
            };
            Some(response(false, tmf))
        }
        Opcode::TEXT_REQUEST | Opcode::LOGOUT_REQUEST => Some(response(false, None)),
        _ => None,
    }
}

/// The wait of an unexpected PDU a target sends (a NOP-In ping), `None` for any other PDU.
pub(crate) fn ping(pdu: &[u8]) -> Option<Wait> {
    let ttt = word(pdu, 20)?;
    (opcode(pdu)? == Opcode::NOP_IN && word(pdu, 16)? == RESERVED_TAG && ttt != RESERVED_TAG)
        .then_some(Wait::Echo { ttt })
}

/// What a target's PDU answers, if anything.
#[cfg_attr(not(feature = "small-code"), inline)]
pub(crate) fn response(pdu: &[u8]) -> Option<Answer> {
    match opcode(pdu)? {
        Opcode::NOP_IN | Opcode::SCSI_RESPONSE | Opcode::TASK_MGMT_RESPONSE => {
            word(pdu, 16).map(Answer::Itt)
        }
        Opcode::TEXT_RESPONSE | Opcode::LOGOUT_RESPONSE => word(pdu, 16).map(Answer::Itt),
        // The rejected PDU's header is the Reject's data segment (RFC 7143 §11.17).
        Opcode::REJECT => word(pdu, BHS_LEN.checked_add(16)?).map(Answer::Itt),
        _ => None,
    }
}

/// What an initiator's PDU answers (a NOP-Out echoing a ping), if anything.
pub(crate) fn echo(pdu: &[u8]) -> Option<Answer> {
    let ttt = word(pdu, 20)?;
    (opcode(pdu)? == Opcode::NOP_OUT && word(pdu, 16)? == RESERVED_TAG && ttt != RESERVED_TAG)
        .then_some(Answer::Echo(ttt))
}

/// Outstanding unexpected PDUs in one direction, at most `N` tracked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Credits<const N: usize> {
    waits: [Option<Wait>; N],
}

impl<const N: usize> Credits<N> {
    pub(crate) const fn new() -> Self {
        Credits { waits: [None; N] }
    }

    /// Unexpected PDUs sent and not yet answered.
    pub(crate) fn outstanding(&self) -> usize {
        self.waits.iter().flatten().count()
    }

    /// Whether one more fits under `limit` (0 = no limit).
    pub(crate) fn has_room(&self, limit: u32) -> bool {
        limit == 0 || self.outstanding() < limit as usize
    }

    /// Whether one more may be sent: under `limit` and trackable.
    pub(crate) fn can_send(&self, limit: u32) -> bool {
        self.has_room(limit) && self.outstanding() < N
    }

    /// Counts one more; [`Overrun`] when `limit` (0 = no limit) is reached already. Beyond `N`
    /// tracked PDUs the count stops growing, which can only make it more lenient.
    #[cfg_attr(not(feature = "small-code"), inline(always))]
    pub(crate) fn charge(&mut self, wait: Wait, limit: u32) -> Result<(), Overrun> {
        if !self.has_room(limit) {
            return Err(Overrun);
        }
        if let Some(slot) = self.waits.iter_mut().find(|w| w.is_none()) {
            *slot = Some(wait);
        }
        Ok(())
    }

    /// Retires what `answer` answers.
    #[cfg_attr(not(feature = "small-code"), inline(always))]
    pub(crate) fn retire(&mut self, answer: Answer) {
        let found = self.waits.iter_mut().find(|w| match (w, answer) {
            (Some(Wait::Response { itt, .. }), Answer::Itt(a)) => *itt == a,
            (Some(Wait::Echo { ttt }), Answer::Echo(a)) => *ttt == a,
            _ => false,
        });
        let Some(slot) = found else {
            return;
        };
        let ended = slot.take();
        if let Some(Wait::Response {
            tmf: Some(aborts), ..
        }) = ended
        {
            for w in self.waits.iter_mut() {
                if let Some(Wait::Response {
                    itt, task: true, ..
                }) = *w
                {
                    if aborts == Aborts::All || aborts == Aborts::One(itt) {
                        *w = None;
                    }
                }
            }
        }
    }

    /// Forgets everything (the connection ended).
    pub(crate) fn clear(&mut self) {
        self.waits = [None; N];
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn pdu(op: u8, itt: u32, ttt: u32) -> [u8; 48] {
        let mut p = [0u8; 48];
        p[0] = op;
        p[16..20].copy_from_slice(&itt.to_be_bytes());
        p[20..24].copy_from_slice(&ttt.to_be_bytes());
        p
    }

    #[test]
    fn test_credits_commands_count_until_their_response() {
        let mut c: Credits<4> = Credits::new();
        let cmd = |itt| request(&pdu(0x01, itt, 0)).unwrap();
        c.charge(cmd(1), 2).unwrap();
        c.charge(cmd(2), 2).unwrap();
        assert_eq!(
            c.charge(cmd(3), 2),
            Err(Overrun),
            "a third is beyond the limit"
        );
        c.retire(response(&pdu(0x21, 1, 0)).unwrap());
        assert_eq!(c.outstanding(), 1);
        c.charge(cmd(3), 2).unwrap();
        assert!(c.charge(cmd(4), 0).is_ok(), "0 means no limit");
    }

    #[test]
    fn test_credits_expected_pdus_are_not_counted() {
        // A NOP-Out answering a ping, a unidirectional NOP-Out, Data-Out, a login.
        assert_eq!(request(&pdu(0x00, RESERVED_TAG, 7)), None);
        assert_eq!(request(&pdu(0x00, RESERVED_TAG, RESERVED_TAG)), None);
        assert_eq!(request(&pdu(0x05, 1, 0)), None);
        assert_eq!(request(&pdu(0x03, 1, 0)), None);
        assert!(
            request(&pdu(0x40, 9, RESERVED_TAG)).is_some(),
            "immediate ping"
        );
        assert_eq!(echo(&pdu(0x00, RESERVED_TAG, 7)), Some(Answer::Echo(7)));
        assert_eq!(
            ping(&pdu(0x20, RESERVED_TAG, 7)),
            Some(Wait::Echo { ttt: 7 })
        );
        assert_eq!(ping(&pdu(0x20, 5, RESERVED_TAG)), None, "a ping's answer");
    }

    #[test]
    fn test_credits_task_management_retires_aborted_tasks() {
        let mut c: Credits<4> = Credits::new();
        c.charge(request(&pdu(0x01, 1, 0)).unwrap(), 0).unwrap();
        c.charge(request(&pdu(0x01, 2, 0)).unwrap(), 0).unwrap();
        let mut abort = pdu(0x02, 10, 1); // ABORT TASK, referenced task tag 1
        abort[1] = 0x81;
        c.charge(request(&abort).unwrap(), 0).unwrap();
        c.retire(Answer::Itt(10));
        assert_eq!(c.outstanding(), 1, "the TMF and its aborted task");
        let mut reset = pdu(0x02, 11, RESERVED_TAG);
        reset[1] = 0x85; // LUN RESET
        c.charge(request(&reset).unwrap(), 0).unwrap();
        c.retire(Answer::Itt(11));
        assert_eq!(c.outstanding(), 0);
    }

    #[test]
    fn test_credits_reject_retires_the_rejected_pdu() {
        let mut c: Credits<2> = Credits::new();
        c.charge(request(&pdu(0x04, 3, RESERVED_TAG)).unwrap(), 2)
            .unwrap();
        let mut reject = [0u8; 96];
        reject[0] = 0x3f;
        reject[16..20].copy_from_slice(&RESERVED_TAG.to_be_bytes());
        reject[48 + 16..48 + 20].copy_from_slice(&3u32.to_be_bytes());
        c.retire(response(&reject).unwrap());
        assert_eq!(c.outstanding(), 0);
    }
}
