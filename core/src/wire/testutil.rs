//! Test-only proptest strategies for every `Repr` of [`crate::wire`].
// Without `tcp` there is no `PduRepr` for Data-In and R2T; their strategies stay for the
// `Repr` tests.
#![cfg_attr(not(feature = "tcp"), allow(dead_code))]

use super::*;
use proptest::prelude::*;
use std::vec;

pub fn any_lun() -> impl Strategy<Value = Lun> {
    prop_oneof![
        (0u16..=Lun::MAX_INDEX).prop_map(|i| Lun::from_index(i).unwrap()),
        any::<u64>().prop_map(Lun)
    ]
}

pub fn any_residual() -> impl Strategy<Value = Residual> {
    prop_oneof![
        Just(Residual::None),
        any::<u32>().prop_map(Residual::Overflow),
        any::<u32>().prop_map(Residual::Underflow),
    ]
}

fn stage() -> impl Strategy<Value = Stage> {
    (0u8..4).prop_map(Stage)
}

prop_compose! {
    fn nop_out()(immediate in any::<bool>(), lun in any_lun(), itt in any::<u32>(), ttt in any::<u32>(),
                 cmd_sn in any::<u32>(), exp_stat_sn in any::<u32>()) -> NopOutRepr {
        NopOutRepr { immediate, lun, itt, ttt, cmd_sn, exp_stat_sn }
    }
}

prop_compose! {
    fn nop_in()(lun in any_lun(), itt in any::<u32>(), ttt in any::<u32>(), stat_sn in any::<u32>(),
                exp_cmd_sn in any::<u32>(), max_cmd_sn in any::<u32>()) -> NopInRepr {
        NopInRepr { lun, itt, ttt, stat_sn, exp_cmd_sn, max_cmd_sn }
    }
}

prop_compose! {
    fn scsi_command()(flags in any::<[bool; 4]>(), attr in 0u8..8, lun in any_lun(),
                      words in any::<[u32; 4]>(), cdb in any::<[u8; 16]>()) -> ScsiCommandRepr {
        ScsiCommandRepr {
            immediate: flags[0], final_: flags[1], read: flags[2], write: flags[3],
            attr: TaskAttribute(attr), lun, itt: words[0], expected_data_transfer_length: words[1],
            cmd_sn: words[2], exp_stat_sn: words[3], cdb,
        }
    }
}

prop_compose! {
    fn scsi_response()(response in any::<u8>(), status in any::<u8>(), words in any::<[u32; 6]>(),
                       bidi_read_residual in any_residual(), residual in any_residual()) -> ScsiResponseRepr {
        ScsiResponseRepr {
            response: ScsiResponseCode(response), status: ScsiStatus(status), itt: words[0],
            snack_tag: words[1], stat_sn: words[2], exp_cmd_sn: words[3], max_cmd_sn: words[4],
            exp_data_sn: words[5], bidi_read_residual, residual,
        }
    }
}

prop_compose! {
    fn tmf_request()(immediate in any::<bool>(), function in 0u8..0x80, lun in any_lun(),
                     words in any::<[u32; 6]>()) -> TaskMgmtRequestRepr {
        TaskMgmtRequestRepr {
            immediate, function: TaskMgmtFunction(function), lun, itt: words[0],
            referenced_task_tag: words[1], cmd_sn: words[2], exp_stat_sn: words[3],
            ref_cmd_sn: words[4], exp_data_sn: words[5],
        }
    }
}

prop_compose! {
    fn tmf_response()(response in any::<u8>(), words in any::<[u32; 4]>()) -> TaskMgmtResponseRepr {
        TaskMgmtResponseRepr {
            response: TaskMgmtResponse(response), itt: words[0], stat_sn: words[1],
            exp_cmd_sn: words[2], max_cmd_sn: words[3],
        }
    }
}

prop_compose! {
    fn login_request()(bits in any::<[bool; 2]>(), csg in stage(), nsg in stage(), versions in any::<[u8; 2]>(),
                       isid in any::<[u8; 6]>(), tsih in any::<u16>(), cid in any::<u16>(),
                       words in any::<[u32; 3]>()) -> LoginRequestRepr {
        LoginRequestRepr {
            transit: bits[0], continue_: bits[1], csg, nsg, version_max: versions[0],
            version_min: versions[1], isid: Isid(isid), tsih, itt: words[0], cid,
            cmd_sn: words[1], exp_stat_sn: words[2],
        }
    }
}

prop_compose! {
    fn login_response()(bits in any::<[bool; 2]>(), csg in stage(), nsg in stage(), versions in any::<[u8; 2]>(),
                        isid in any::<[u8; 6]>(), tsih in any::<u16>(), words in any::<[u32; 4]>(),
                        status in any::<u16>()) -> LoginResponseRepr {
        LoginResponseRepr {
            transit: bits[0], continue_: bits[1], csg, nsg, version_max: versions[0],
            version_active: versions[1], isid: Isid(isid), tsih, itt: words[0], stat_sn: words[1],
            exp_cmd_sn: words[2], max_cmd_sn: words[3], status: LoginStatus::from_u16(status),
        }
    }
}

prop_compose! {
    fn text_request()(bits in any::<[bool; 3]>(), lun in any_lun(), words in any::<[u32; 4]>()) -> TextRequestRepr {
        TextRequestRepr {
            immediate: bits[0], final_: bits[1], continue_: bits[2], lun, itt: words[0],
            ttt: words[1], cmd_sn: words[2], exp_stat_sn: words[3],
        }
    }
}

prop_compose! {
    fn text_response()(bits in any::<[bool; 2]>(), lun in any_lun(), words in any::<[u32; 5]>()) -> TextResponseRepr {
        TextResponseRepr {
            final_: bits[0], continue_: bits[1], lun, itt: words[0], ttt: words[1],
            stat_sn: words[2], exp_cmd_sn: words[3], max_cmd_sn: words[4],
        }
    }
}

prop_compose! {
    fn data_out()(final_ in any::<bool>(), lun in any_lun(), words in any::<[u32; 5]>()) -> DataOutRepr {
        DataOutRepr {
            final_, lun, itt: words[0], ttt: words[1], exp_stat_sn: words[2],
            data_sn: words[3], buffer_offset: words[4],
        }
    }
}

prop_compose! {
    fn data_in_status()(status in any::<u8>(), stat_sn in any::<u32>(), residual in any_residual()) -> DataInStatus {
        DataInStatus { status: ScsiStatus(status), stat_sn, residual }
    }
}

prop_compose! {
    fn data_in()(final_ in any::<bool>(), ack in any::<bool>(), lun in any_lun(), words in any::<[u32; 6]>(),
                 status in proptest::option::of(data_in_status())) -> DataInRepr {
        DataInRepr {
            final_: final_ || status.is_some(), ack, lun, itt: words[0], ttt: words[1],
            exp_cmd_sn: words[2], max_cmd_sn: words[3], data_sn: words[4], buffer_offset: words[5],
            status,
        }
    }
}

prop_compose! {
    fn logout_request()(immediate in any::<bool>(), reason in 0u8..0x80, cid in any::<u16>(),
                        words in any::<[u32; 3]>()) -> LogoutRequestRepr {
        LogoutRequestRepr {
            immediate, reason: LogoutReason(reason), itt: words[0], cid, cmd_sn: words[1],
            exp_stat_sn: words[2],
        }
    }
}

prop_compose! {
    fn logout_response()(response in any::<u8>(), words in any::<[u32; 4]>(), times in any::<[u16; 2]>()) -> LogoutResponseRepr {
        LogoutResponseRepr {
            response: LogoutResponse(response), itt: words[0], stat_sn: words[1],
            exp_cmd_sn: words[2], max_cmd_sn: words[3], time2wait: times[0], time2retain: times[1],
        }
    }
}

prop_compose! {
    fn r2t()(lun in any_lun(), words in any::<[u32; 8]>()) -> R2tRepr {
        R2tRepr {
            lun, itt: words[0], ttt: words[1], stat_sn: words[2], exp_cmd_sn: words[3],
            max_cmd_sn: words[4], r2t_sn: words[5], buffer_offset: words[6],
            desired_data_transfer_length: words[7],
        }
    }
}

prop_compose! {
    fn async_message()(lun in any_lun(), words in any::<[u32; 3]>(), event in any::<u8>(), vcode in any::<u8>(),
                       params in any::<[u16; 3]>()) -> AsyncMessageRepr {
        AsyncMessageRepr {
            lun, stat_sn: words[0], exp_cmd_sn: words[1], max_cmd_sn: words[2],
            event: AsyncEvent(event), vcode, parameter1: params[0], parameter2: params[1],
            parameter3: params[2],
        }
    }
}

prop_compose! {
    fn snack()(snack_type in 0u8..16, lun in any_lun(), words in any::<[u32; 5]>()) -> SnackRepr {
        SnackRepr {
            snack_type: SnackType(snack_type), lun, itt: words[0], ttt: words[1],
            exp_stat_sn: words[2], beg_run: words[3], run_length: words[4],
        }
    }
}

prop_compose! {
    fn reject()(reason in any::<u8>(), words in any::<[u32; 4]>()) -> RejectRepr {
        RejectRepr {
            reason: RejectReason(reason), stat_sn: words[0], exp_cmd_sn: words[1],
            max_cmd_sn: words[2], data_sn: words[3],
        }
    }
}

/// Any valid header of any PDU type.
pub fn any_pdu_repr() -> impl Strategy<Value = PduRepr> {
    let common = prop_oneof![
        nop_out().prop_map(PduRepr::from),
        nop_in().prop_map(PduRepr::from),
        scsi_command().prop_map(PduRepr::from),
        scsi_response().prop_map(PduRepr::from),
        tmf_request().prop_map(PduRepr::from),
        tmf_response().prop_map(PduRepr::from),
        login_request().prop_map(PduRepr::from),
        login_response().prop_map(PduRepr::from),
        text_request().prop_map(PduRepr::from),
        text_response().prop_map(PduRepr::from),
        data_out().prop_map(PduRepr::from),
        logout_request().prop_map(PduRepr::from),
        logout_response().prop_map(PduRepr::from),
        async_message().prop_map(PduRepr::from),
        snack().prop_map(PduRepr::from),
        reject().prop_map(PduRepr::from),
    ];
    #[cfg(feature = "tcp")]
    let common = prop_oneof![
        16 => common,
        1 => data_in().prop_map(PduRepr::from),
        1 => r2t().prop_map(PduRepr::from),
    ];
    common
}
