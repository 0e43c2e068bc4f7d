//! Sense data: sense keys, additional sense codes and fixed-format sense data (SPC-4 §4.5.3),
//! carried in the iSCSI SCSI Response data segment behind a 2-byte SenseLength (RFC 7143 §11.4.7).

scsi_enum! {
    /// SENSE KEY (SPC-4 §4.5.6, table 48).
    pub struct SenseKey(u8) {
        NO_SENSE = 0x0,
        RECOVERED_ERROR = 0x1,
        NOT_READY = 0x2,
        MEDIUM_ERROR = 0x3,
        HARDWARE_ERROR = 0x4,
        ILLEGAL_REQUEST = 0x5,
        UNIT_ATTENTION = 0x6,
        DATA_PROTECT = 0x7,
        BLANK_CHECK = 0x8,
        VENDOR_SPECIFIC = 0x9,
        COPY_ABORTED = 0xa,
        ABORTED_COMMAND = 0xb,
        VOLUME_OVERFLOW = 0xd,
        MISCOMPARE = 0xe,
    }
}

scsi_enum! {
    /// ADDITIONAL SENSE CODE and QUALIFIER as one value, `ASC << 8 | ASCQ` (SPC-4 §4.5.6,
    /// table 49). Only the codes this crate reports are named.
    pub struct AdditionalSense(u16) {
        NO_ADDITIONAL_SENSE = 0x0000,
        /// 04/02: LOGICAL UNIT NOT READY, INITIALIZING COMMAND REQUIRED (a copy peer not ready).
        NOT_READY_INITIALIZING_COMMAND_REQUIRED = 0x0402,
        /// 04/1B: LOGICAL UNIT NOT READY, SANITIZE IN PROGRESS.
        NOT_READY_SANITIZE_IN_PROGRESS = 0x041b,
        /// 08/04: UNREACHABLE COPY TARGET.
        UNREACHABLE_COPY_TARGET = 0x0804,
        /// 0C/00: WRITE ERROR.
        WRITE_ERROR = 0x0c00,
        /// 0D/02: COPY TARGET DEVICE NOT REACHABLE.
        COPY_TARGET_DEVICE_NOT_REACHABLE = 0x0d02,
        /// 0E/03: INVALID FIELD IN COMMAND INFORMATION UNIT (iSCSI length mismatch).
        INVALID_FIELD_IN_COMMAND_IU = 0x0e03,
        /// 11/00: UNRECOVERED READ ERROR.
        UNRECOVERED_READ_ERROR = 0x1100,
        /// 1A/00: PARAMETER LIST LENGTH ERROR.
        PARAMETER_LIST_LENGTH_ERROR = 0x1a00,
        /// 1D/00: MISCOMPARE DURING VERIFY OPERATION.
        MISCOMPARE_DURING_VERIFY = 0x1d00,
        /// 20/00: INVALID COMMAND OPERATION CODE.
        INVALID_COMMAND_OPERATION_CODE = 0x2000,
        /// 21/00: LOGICAL BLOCK ADDRESS OUT OF RANGE.
        LBA_OUT_OF_RANGE = 0x2100,
        /// 24/00: INVALID FIELD IN CDB.
        INVALID_FIELD_IN_CDB = 0x2400,
        /// 25/00: LOGICAL UNIT NOT SUPPORTED.
        LOGICAL_UNIT_NOT_SUPPORTED = 0x2500,
        /// 26/00: INVALID FIELD IN PARAMETER LIST.
        INVALID_FIELD_IN_PARAMETER_LIST = 0x2600,
        /// 26/01: PARAMETER NOT SUPPORTED.
        PARAMETER_NOT_SUPPORTED = 0x2601,
        /// 26/04: INVALID RELEASE OF PERSISTENT RESERVATION.
        INVALID_RELEASE_OF_PERSISTENT_RESERVATION = 0x2604,
        /// 26/06: TOO MANY TARGET DESCRIPTORS.
        TOO_MANY_TARGET_DESCRIPTORS = 0x2606,
        /// 26/07: UNSUPPORTED TARGET DESCRIPTOR TYPE CODE.
        UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE = 0x2607,
        /// 26/08: TOO MANY SEGMENT DESCRIPTORS.
        TOO_MANY_SEGMENT_DESCRIPTORS = 0x2608,
        /// 26/09: UNSUPPORTED SEGMENT DESCRIPTOR TYPE CODE.
        UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE = 0x2609,
        /// 27/00: WRITE PROTECTED.
        WRITE_PROTECTED = 0x2700,
        /// 27/07: SPACE ALLOCATION FAILED WRITE PROTECT.
        SPACE_ALLOCATION_FAILED_WRITE_PROTECT = 0x2707,
        /// 29/00: POWER ON, RESET, OR BUS DEVICE RESET OCCURRED.
        POWER_ON_RESET = 0x2900,
        /// 29/01: POWER ON OCCURRED.
        POWER_ON_OCCURRED = 0x2901,
        /// 29/03: BUS DEVICE RESET FUNCTION OCCURRED (LOGICAL UNIT RESET).
        BUS_DEVICE_RESET_FUNCTION_OCCURRED = 0x2903,
        /// 29/07: I_T NEXUS LOSS OCCURRED.
        I_T_NEXUS_LOSS_OCCURRED = 0x2907,
        /// 2A/01: MODE PARAMETERS CHANGED.
        MODE_PARAMETERS_CHANGED = 0x2a01,
        /// 2A/03: RESERVATIONS PREEMPTED.
        RESERVATIONS_PREEMPTED = 0x2a03,
        /// 2A/04: RESERVATIONS RELEASED.
        RESERVATIONS_RELEASED = 0x2a04,
        /// 2A/05: REGISTRATIONS PREEMPTED.
        REGISTRATIONS_PREEMPTED = 0x2a05,
        /// 2A/06: ASYMMETRIC ACCESS STATE CHANGED.
        ASYMMETRIC_ACCESS_STATE_CHANGED = 0x2a06,
        /// 2A/09: CAPACITY DATA HAS CHANGED.
        CAPACITY_DATA_HAS_CHANGED = 0x2a09,
        /// 2C/00: COMMAND SEQUENCE ERROR.
        COMMAND_SEQUENCE_ERROR = 0x2c00,
        /// 31/03: SANITIZE COMMAND FAILED.
        SANITIZE_COMMAND_FAILED = 0x3103,
        /// 39/00: SAVING PARAMETERS NOT SUPPORTED.
        SAVING_PARAMETERS_NOT_SUPPORTED = 0x3900,
        /// 3A/00: MEDIUM NOT PRESENT.
        MEDIUM_NOT_PRESENT = 0x3a00,
        /// 3F/03: INQUIRY DATA HAS CHANGED.
        INQUIRY_DATA_HAS_CHANGED = 0x3f03,
        /// 3F/0E: REPORTED LUNS DATA HAS CHANGED.
        REPORTED_LUNS_DATA_HAS_CHANGED = 0x3f0e,
        /// 44/00: INTERNAL TARGET FAILURE.
        INTERNAL_TARGET_FAILURE = 0x4400,
        /// 53/02: MEDIUM REMOVAL PREVENTED.
        MEDIUM_REMOVAL_PREVENTED = 0x5302,
        /// 55/04: INSUFFICIENT REGISTRATION RESOURCES.
        INSUFFICIENT_REGISTRATION_RESOURCES = 0x5504,
    }
}

impl AdditionalSense {
    /// The ADDITIONAL SENSE CODE byte.
    pub const fn asc(self) -> u8 {
        self.0.to_be_bytes()[0]
    }
    /// The ADDITIONAL SENSE CODE QUALIFIER byte.
    pub const fn ascq(self) -> u8 {
        self.0.to_be_bytes()[1]
    }
}

/// The SENSE KEY SPECIFIC field (SPC-4 §4.5.2.4), bytes 15–17 of fixed-format sense data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SenseSpecific {
    /// Field pointer for ILLEGAL REQUEST (§4.5.2.4.2): which byte (and optionally bit) of the CDB
    /// (`in_cdb`) or of the parameter list was in error.
    FieldPointer {
        /// C/D: the error is in the CDB (true) or in the parameter data (false).
        in_cdb: bool,
        /// Byte offset of the field in error.
        byte: u16,
        /// Bit (0–7) of the most significant bit of the field in error, when known.
        bit: Option<u8>,
    },
    /// Progress indication (§4.5.2.4.4), in 1/65536 units; used with NOT READY.
    Progress(u16),
}

impl SenseSpecific {
    fn to_bytes(self) -> [u8; 3] {
        match self {
            SenseSpecific::FieldPointer { in_cdb, byte, bit } => {
                let mut b0 = 0x80u8;
                if in_cdb {
                    b0 |= 0x40;
                }
                if let Some(bit) = bit {
                    b0 |= 0x08 | (bit & 0x07);
                }
                let [hi, lo] = byte.to_be_bytes();
                [b0, hi, lo]
            }
            SenseSpecific::Progress(p) => {
                let [hi, lo] = p.to_be_bytes();
                [0x80, hi, lo]
            }
        }
    }

    fn from_bytes(key: SenseKey, b: [u8; 3]) -> Option<SenseSpecific> {
        if b[0] & 0x80 == 0 {
            return None;
        }
        let v = u16::from_be_bytes([b[1], b[2]]);
        if key == SenseKey::ILLEGAL_REQUEST {
            Some(SenseSpecific::FieldPointer {
                in_cdb: b[0] & 0x40 != 0,
                byte: v,
                bit: (b[0] & 0x08 != 0).then_some(b[0] & 0x07),
            })
        } else {
            Some(SenseSpecific::Progress(v))
        }
    }
}

/// The caller's buffer is too small; `needed` bytes are required.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BufferTooSmall {
    /// Bytes the output needs.
    pub needed: usize,
}

/// One condition to report as sense data. Encodes as fixed format (response code 70h,
/// SPC-4 §4.5.3), which every initiator parses; descriptor format is not produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Sense {
    /// SENSE KEY.
    pub key: SenseKey,
    /// ADDITIONAL SENSE CODE and QUALIFIER.
    pub code: AdditionalSense,
    /// INFORMATION field (VALID bit set when present), e.g. the miscompare offset.
    pub information: Option<u32>,
    /// SENSE KEY SPECIFIC field (SKSV set when present).
    pub specific: Option<SenseSpecific>,
}

impl Sense {
    /// Length of fixed-format sense data as emitted: 8 header bytes + 10 additional.
    pub const LEN: usize = 18;

    /// A condition without information or sense-key-specific data.
    pub const fn new(key: SenseKey, code: AdditionalSense) -> Sense {
        Sense {
            key,
            code,
            information: None,
            specific: None,
        }
    }

    /// ILLEGAL REQUEST, INVALID FIELD IN CDB with a field pointer at `byte` (and `bit`).
    pub const fn invalid_field_in_cdb(byte: u16, bit: Option<u8>) -> Sense {
        Sense {
            key: SenseKey::ILLEGAL_REQUEST,
            code: AdditionalSense::INVALID_FIELD_IN_CDB,
            information: None,
            specific: Some(SenseSpecific::FieldPointer {
                in_cdb: true,
                byte,
                bit,
            }),
        }
    }

    /// ILLEGAL REQUEST, INVALID FIELD IN PARAMETER LIST with a field pointer into the
    /// parameter data.
    pub const fn invalid_field_in_parameter_list(byte: u16, bit: Option<u8>) -> Sense {
        Sense {
            key: SenseKey::ILLEGAL_REQUEST,
            code: AdditionalSense::INVALID_FIELD_IN_PARAMETER_LIST,
            information: None,
            specific: Some(SenseSpecific::FieldPointer {
                in_cdb: false,
                byte,
                bit,
            }),
        }
    }

    /// ILLEGAL REQUEST with `code` and no further data.
    pub const fn illegal_request(code: AdditionalSense) -> Sense {
        Sense::new(SenseKey::ILLEGAL_REQUEST, code)
    }

    /// This sense with the INFORMATION field set.
    pub const fn with_information(mut self, information: u32) -> Sense {
        self.information = Some(information);
        self
    }

    /// Writes fixed-format sense data (SPC-4 §4.5.3, table 45) into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let out = buf
            .first_chunk_mut::<{ Sense::LEN }>()
            .ok_or(BufferTooSmall { needed: Sense::LEN })?;
        *out = self.to_bytes();
        Ok(Sense::LEN)
    }

    /// Fixed-format sense data as an array.
    pub fn to_bytes(&self) -> [u8; Sense::LEN] {
        let mut b = [0u8; Sense::LEN];
        b[0] = 0x70;
        if let Some(info) = self.information {
            b[0] |= 0x80;
            b[3..7].copy_from_slice(&info.to_be_bytes());
        }
        b[2] = self.key.0 & 0x0f;
        // ADDITIONAL SENSE LENGTH: bytes after byte 7.
        b[7] = 10;
        b[12] = self.code.asc();
        b[13] = self.code.ascq();
        if let Some(s) = self.specific {
            b[15..18].copy_from_slice(&s.to_bytes());
        }
        b
    }

    /// Writes the iSCSI SCSI Response data segment for this sense: the 2-byte SenseLength
    /// followed by the sense data (RFC 7143 §11.4.7.2). Returns the segment length.
    pub fn emit_iscsi_segment(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        const SEG: usize = 2 + Sense::LEN;
        let out = buf
            .first_chunk_mut::<SEG>()
            .ok_or(BufferTooSmall { needed: SEG })?;
        let (len, data) = out.split_at_mut(2);
        len.copy_from_slice(&(Sense::LEN as u16).to_be_bytes());
        data.copy_from_slice(&self.to_bytes());
        Ok(SEG)
    }

    /// Parses fixed-format sense data (response code 70h or 71h). Returns `None` for other
    /// formats or short input. Used by the initiator side and by tests.
    pub fn parse(buf: &[u8]) -> Option<Sense> {
        let b = buf.first_chunk::<14>()?;
        if b[0] & 0x7e != 0x70 {
            return None;
        }
        let key = SenseKey(b[2] & 0x0f);
        let information = (b[0] & 0x80 != 0).then(|| u32::from_be_bytes([b[3], b[4], b[5], b[6]]));
        let specific = buf
            .get(15..18)
            .and_then(|s| s.first_chunk::<3>())
            .and_then(|s| SenseSpecific::from_bytes(key, *s));
        Some(Sense {
            key,
            code: AdditionalSense(u16::from_be_bytes([b[12], b[13]])),
            information,
            specific,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_invalid_field_layout() {
        let s = Sense::invalid_field_in_cdb(2, Some(5));
        let b = s.to_bytes();
        assert_eq!(b[0], 0x70);
        assert_eq!(b[2], 0x05);
        assert_eq!(b[7], 10);
        assert_eq!((b[12], b[13]), (0x24, 0x00));
        assert_eq!(&b[15..18], &[0x80 | 0x40 | 0x08 | 5, 0, 2]);
    }

    #[test]
    fn test_information_sets_valid() {
        let s = Sense::new(
            SenseKey::MISCOMPARE,
            AdditionalSense::MISCOMPARE_DURING_VERIFY,
        )
        .with_information(0x1234);
        let b = s.to_bytes();
        assert_eq!(b[0], 0xf0);
        assert_eq!(&b[3..7], &[0, 0, 0x12, 0x34]);
        assert_eq!(b[15], 0);
    }

    #[test]
    fn test_iscsi_segment() {
        let s = Sense::illegal_request(AdditionalSense::LBA_OUT_OF_RANGE);
        let mut buf = [0u8; 32];
        assert_eq!(s.emit_iscsi_segment(&mut buf), Ok(20));
        assert_eq!(&buf[..2], &[0, 18]);
        assert_eq!(Sense::parse(&buf[2..20]), Some(s));
        assert_eq!(
            s.emit_iscsi_segment(&mut buf[..19]),
            Err(BufferTooSmall { needed: 20 })
        );
        assert_eq!(s.emit(&mut buf[..17]), Err(BufferTooSmall { needed: 18 }));
    }

    #[test]
    fn test_debug_names_and_hex() {
        extern crate std;
        use std::format;
        assert_eq!(format!("{:?}", SenseKey::MISCOMPARE), "MISCOMPARE");
        assert_eq!(format!("{:?}", SenseKey(0xc)), "SenseKey(0xc)");
        assert_eq!(
            format!("{:?}", AdditionalSense(0x7f7f)),
            "AdditionalSense(0x7f7f)"
        );
    }

    proptest! {
        #[test]
        fn prop_roundtrip(key in 0u8..16, code: u16, info: Option<u32>,
                          fp in proptest::option::of((any::<bool>(), any::<u16>(), proptest::option::of(0u8..8)))) {
            let specific = if key == 5 {
                fp.map(|(in_cdb, byte, bit)| SenseSpecific::FieldPointer { in_cdb, byte, bit })
            } else {
                fp.map(|(_, p, _)| SenseSpecific::Progress(p))
            };
            let s = Sense { key: SenseKey(key), code: AdditionalSense(code), information: info, specific };
            prop_assert_eq!(Sense::parse(&s.to_bytes()), Some(s));
        }

        #[test]
        fn prop_parse_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = Sense::parse(&buf);
        }
    }
}
