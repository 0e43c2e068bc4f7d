//! PERSISTENT RESERVE IN / OUT.

use super::*;

fn prout(lu: &mut TestLu, n: u16, sa: u8, kind: u8, rk: u64, sark: u64, flags: u8) -> Completion {
    let cdb = [0x5f, sa, kind, 0, 0, 0, 0, 0, 24, 0];
    let mut p = [0u8; 24];
    p[0..8].copy_from_slice(&rk.to_be_bytes());
    p[8..16].copy_from_slice(&sark.to_be_bytes());
    p[20] = flags;
    run_on(lu, NexusId(n), &cdb, 0, &p).1
}

fn prin(lu: &mut TestLu, n: u16, sa: u8, alloc: u16) -> (Vec<u8>, Completion) {
    let a = alloc.to_be_bytes();
    run_on(
        lu,
        NexusId(n),
        &[0x5e, sa, 0, 0, 0, 0, 0, a[0], a[1], 0],
        u32::from(alloc),
        &[],
    )
}

fn keys(lu: &mut TestLu) -> (u32, Vec<u64>) {
    let (d, c) = prin(lu, 0, 0, 1024);
    assert!(c.is_good());
    let gen = u32::from_be_bytes(d[0..4].try_into().unwrap());
    let len = u32::from_be_bytes(d[4..8].try_into().unwrap()) as usize;
    let ks = d[8..8 + len]
        .chunks(8)
        .map(|k| u64::from_be_bytes(k.try_into().unwrap()))
        .collect();
    (gen, ks)
}

fn reservation(lu: &mut TestLu) -> Option<(u64, u8)> {
    let (d, _) = prin(lu, 0, 1, 1024);
    (u32::from_be_bytes(d[4..8].try_into().unwrap()) == 16).then(|| {
        (
            u64::from_be_bytes(d[8..16].try_into().unwrap()),
            d[21] & 0x0f,
        )
    })
}

/// Two nexuses with their unit attentions consumed and initiator port names set.
fn two() -> TestLu {
    let mut lu = lu();
    while !run_on(&mut lu, NexusId(1), &[0; 6], 0, &[]).1.is_good() {}
    assert!(lu.set_initiator_port(NexusId(0), "iqn.2024-01.test:a,i,0x00023d000001"));
    assert!(lu.set_initiator_port(NexusId(1), "iqn.2024-01.test:b,i,0x00023d000002"));
    lu
}

#[test]
fn test_register_unregister_and_generation() {
    let mut lu = two();
    assert_eq!(keys(&mut lu), (0, vec![]));
    assert!(prout(&mut lu, 0, 0, 0, 0, 0xabc, 0).is_good());
    assert_eq!(keys(&mut lu), (1, vec![0xabc]));
    // Re-register with a wrong key fails; with REGISTER AND IGNORE it works.
    assert_eq!(
        prout(&mut lu, 0, 0, 0, 0x1, 0xdef, 0).status,
        Status::RESERVATION_CONFLICT
    );
    assert_eq!(
        prout(&mut lu, 0, 0, 0, 0, 0xdef, 0).status,
        Status::RESERVATION_CONFLICT
    );
    assert!(prout(&mut lu, 0, 6, 0, 0, 0xdef, 0).is_good());
    assert_eq!(keys(&mut lu).1, vec![0xdef]);
    // Unregister.
    assert!(prout(&mut lu, 0, 0, 0, 0xdef, 0, 0).is_good());
    assert_eq!(keys(&mut lu), (3, vec![]));
    // Truncated READ KEYS keeps ADDITIONAL LENGTH.
    assert!(prout(&mut lu, 0, 0, 0, 0, 7, 0).is_good());
    let (d, _) = prin(&mut lu, 0, 0, 8);
    assert_eq!(d.len(), 8);
    assert_eq!(u32::from_be_bytes(d[4..8].try_into().unwrap()), 8);
}

#[test]
fn test_every_type_reserve_release() {
    let mut lu = two();
    assert!(prout(&mut lu, 0, 0, 0, 0, 0x11, 0).is_good());
    for kind in [1u8, 3, 5, 6, 7, 8] {
        assert!(
            prout(&mut lu, 0, 1, kind, 0x11, 0, 0).is_good(),
            "type {kind}"
        );
        let holder_key = if kind >= 7 { 0 } else { 0x11 };
        assert_eq!(reservation(&mut lu), Some((holder_key, kind)));
        // Reserving again with the same type is fine, a different type conflicts.
        assert!(prout(&mut lu, 0, 1, kind, 0x11, 0, 0).is_good());
        let other = if kind == 1 { 3 } else { 1 };
        assert_eq!(
            prout(&mut lu, 0, 1, other, 0x11, 0, 0).status,
            Status::RESERVATION_CONFLICT
        );
        // Releasing with the wrong type is an error.
        let c = prout(&mut lu, 0, 2, other, 0x11, 0, 0);
        assert_eq!(
            code(&c).1,
            AdditionalSense::INVALID_RELEASE_OF_PERSISTENT_RESERVATION
        );
        assert!(prout(&mut lu, 0, 2, kind, 0x11, 0, 0).is_good());
        assert_eq!(reservation(&mut lu), None);
    }
    // Invalid type and scope are CDB errors; non-registrants conflict.
    assert_invalid_field(&prout(&mut lu, 0, 1, 2, 0x11, 0, 0), 2);
    assert_invalid_field(&prout(&mut lu, 0, 1, 0x11, 0x11, 0, 0), 2);
    assert_eq!(
        prout(&mut lu, 1, 1, 1, 0x22, 0, 0).status,
        Status::RESERVATION_CONFLICT
    );
}

#[test]
fn test_access_rules() {
    let mut lu = two();
    assert!(prout(&mut lu, 0, 0, 0, 0, 0xa, 0).is_good());
    let data = vec![0u8; BS as usize];
    let read = |lu: &mut TestLu, n: u16| run_on(lu, NexusId(n), &cdb10(0x28, 0, 0, 1), BS, &[]).1;
    let write =
        |lu: &mut TestLu, n: u16, d: &[u8]| run_on(lu, NexusId(n), &cdb10(0x2a, 0, 0, 1), 0, d).1;
    // Write Exclusive: others read but do not write.
    assert!(prout(&mut lu, 0, 1, 1, 0xa, 0, 0).is_good());
    assert!(read(&mut lu, 1).is_good());
    assert_eq!(
        write(&mut lu, 1, &data).status,
        Status::RESERVATION_CONFLICT
    );
    assert!(write(&mut lu, 0, &data).is_good());
    assert!(
        run_on(&mut lu, NexusId(1), &[0; 6], 0, &[]).1.is_good(),
        "TUR allowed"
    );
    assert!(prout(&mut lu, 0, 2, 1, 0xa, 0, 0).is_good());
    // Exclusive Access: others neither read nor write.
    assert!(prout(&mut lu, 0, 1, 3, 0xa, 0, 0).is_good());
    assert_eq!(read(&mut lu, 1).status, Status::RESERVATION_CONFLICT);
    assert!(prin(&mut lu, 1, 0, 64).1.is_good(), "PR IN allowed");
    assert!(prout(&mut lu, 0, 2, 3, 0xa, 0, 0).is_good());
    // Exclusive Access, Registrants Only: registering gives access.
    assert!(prout(&mut lu, 0, 1, 6, 0xa, 0, 0).is_good());
    assert_eq!(read(&mut lu, 1).status, Status::RESERVATION_CONFLICT);
    assert!(prout(&mut lu, 1, 0, 0, 0, 0xb, 0).is_good());
    assert!(write(&mut lu, 1, &data).is_good());
    // RESERVE(6) conflicts with registrations.
    assert_eq!(
        run(&mut lu, &[0x16, 0, 0, 0, 0, 0], 0, &[]).1.status,
        Status::RESERVATION_CONFLICT
    );
}

#[test]
fn test_preempt_and_clear() {
    let mut lu = two();
    assert!(prout(&mut lu, 0, 0, 0, 0, 0xa, 0).is_good());
    assert!(prout(&mut lu, 1, 0, 0, 0, 0xb, 0).is_good());
    assert!(prout(&mut lu, 0, 1, 3, 0xa, 0, 0).is_good());
    // Nexus 1 preempts nexus 0's reservation and registration.
    assert!(prout(&mut lu, 1, 4, 1, 0xb, 0xa, 0).is_good());
    let c = run(&mut lu, &[0; 6], 0, &[]).1;
    assert_eq!(code(&c).1, AdditionalSense::REGISTRATIONS_PREEMPTED);
    assert_eq!(reservation(&mut lu), Some((0xb, 1)));
    assert_eq!(keys(&mut lu).1, vec![0xb]);
    // Preempting a key nobody has conflicts; SARK 0 without all-registrants is invalid.
    assert_eq!(
        prout(&mut lu, 1, 4, 1, 0xb, 0x99, 0).status,
        Status::RESERVATION_CONFLICT
    );
    assert_eq!(
        code(&prout(&mut lu, 1, 4, 1, 0xb, 0, 0)).1,
        AdditionalSense::INVALID_FIELD_IN_PARAMETER_LIST
    );
    // CLEAR drops everything and bumps the generation once.
    assert!(prout(&mut lu, 0, 0, 0, 0, 0xc, 0).is_good());
    let (gen, _) = keys(&mut lu);
    assert!(prout(&mut lu, 1, 3, 0, 0xb, 0, 0).is_good());
    let c = run(&mut lu, &[0; 6], 0, &[]).1;
    assert_eq!(code(&c).1, AdditionalSense::RESERVATIONS_PREEMPTED);
    assert_eq!(keys(&mut lu), (gen + 1, vec![]));
    assert_eq!(reservation(&mut lu), None);
}

#[test]
fn test_report_capabilities_and_full_status() {
    let mut lu = two();
    let (d, c) = prin(&mut lu, 0, 2, 8);
    assert!(c.is_good());
    assert_eq!(u16::from_be_bytes([d[0], d[1]]), 8);
    assert_eq!((d[3] >> 4) & 7, 0, "ALLOW COMMANDS");
    assert_eq!(u16::from_be_bytes([d[4], d[5]]) & !0xea01, 0);
    assert!(prout(&mut lu, 0, 0, 0, 0, 0xa, 0x01).is_good());
    assert!(prout(&mut lu, 0, 1, 5, 0xa, 0, 0).is_good());
    let (d, _) = prin(&mut lu, 0, 2, 8);
    assert_eq!(d[3] & 1, 1, "PTPL_A");
    let (d, c) = prin(&mut lu, 0, 3, 1024);
    assert!(c.is_good());
    let len = u32::from_be_bytes(d[4..8].try_into().unwrap()) as usize;
    assert_eq!(len + 8, d.len());
    let desc = &d[8..];
    assert_eq!(u64::from_be_bytes(desc[0..8].try_into().unwrap()), 0xa);
    assert_eq!(desc[12] & 1, 1, "R_HOLDER");
    assert_eq!(desc[13], 5);
    let tid = &desc[24..];
    assert_eq!(tid[0], 0x45, "iSCSI, initiator port with ISID");
    assert!(tid[4..].starts_with(b"iqn.2024-01.test:a,i,0x00023d000001\0"));
    assert_eq!((u16::from_be_bytes([tid[2], tid[3]]) + 4) % 4, 0);
    // Service actions 4.. are invalid; parameter list length must be 24.
    for sa in 4..0x20 {
        assert!(!prin(&mut lu, 0, sa, 64).1.is_good());
    }
    let c = run(&mut lu, &[0x5f, 0, 0, 0, 0, 0, 0, 0, 25, 0], 0, &[0; 25]).1;
    assert_eq!(code(&c).1, AdditionalSense::PARAMETER_LIST_LENGTH_ERROR);
}

#[test]
fn test_registrations_survive_nexus_loss_and_restore() {
    let mut lu = two();
    assert!(prout(&mut lu, 0, 0, 0, 0, 0xa, 0x01).is_good());
    assert!(prout(&mut lu, 0, 1, 1, 0xa, 0, 0).is_good());
    lu.nexus_lost(NexusId(0));
    let saved = *lu.persistent_reservations();
    assert!(saved.aptpl);
    // The same initiator port on another nexus slot is still the holder.
    assert!(lu.set_initiator_port(NexusId(2), "iqn.2024-01.test:a,i,0x00023d000001"));
    while !run_on(&mut lu, NexusId(2), &[0; 6], 0, &[]).1.is_good() {}
    let w = run_on(
        &mut lu,
        NexusId(2),
        &cdb10(0x2a, 0, 0, 1),
        0,
        &vec![0; BS as usize],
    )
    .1;
    assert!(w.is_good());
    // Restoring into a fresh logical unit keeps the reservation.
    let mut fresh = two();
    fresh.restore_persistent_reservations(saved);
    assert_eq!(reservation(&mut fresh), Some((0xa, 1)));
    let w = run_on(
        &mut fresh,
        NexusId(1),
        &cdb10(0x2a, 0, 0, 1),
        0,
        &vec![0; BS as usize],
    )
    .1;
    assert_eq!(w.status, Status::RESERVATION_CONFLICT);
}

fn register_and_move(
    lu: &mut TestLu,
    n: u16,
    rk: u64,
    sark: u64,
    flags: u8,
    dest: &str,
) -> Completion {
    let mut name = dest.as_bytes().to_vec();
    name.push(0);
    while name.len() % 4 != 0 || name.len() < 16 {
        name.push(0);
    }
    let mut tid = vec![0x45, 0];
    tid.extend_from_slice(&(name.len() as u16).to_be_bytes());
    tid.extend_from_slice(&name);
    let mut p = vec![0u8; 24];
    p[0..8].copy_from_slice(&rk.to_be_bytes());
    p[8..16].copy_from_slice(&sark.to_be_bytes());
    p[17] = flags;
    p[18..20].copy_from_slice(&1u16.to_be_bytes());
    p[20..24].copy_from_slice(&(tid.len() as u32).to_be_bytes());
    p.extend_from_slice(&tid);
    let plen = (p.len() as u32).to_be_bytes();
    let cdb = [0x5f, 7, 1, 0, 0, plen[0], plen[1], plen[2], plen[3], 0];
    run_on(lu, NexusId(n), &cdb, 0, &p).1
}

#[test]
fn test_register_and_move() {
    let mut lu = two();
    let b = "iqn.2024-01.test:b,i,0x00023d000002";
    // Only the holder may move.
    assert!(prout(&mut lu, 0, 0, 0, 0, 0xa, 0).is_good());
    assert_eq!(
        register_and_move(&mut lu, 0, 0xa, 0xb, 0, b).status,
        Status::RESERVATION_CONFLICT
    );
    assert!(prout(&mut lu, 0, 1, 1, 0xa, 0, 0).is_good());
    // SARK 0 and moving to oneself are parameter errors.
    assert_eq!(
        code(&register_and_move(&mut lu, 0, 0xa, 0, 0, b)).1,
        AdditionalSense::INVALID_FIELD_IN_PARAMETER_LIST
    );
    let a = "iqn.2024-01.test:a,i,0x00023d000001";
    assert_eq!(
        code(&register_and_move(&mut lu, 0, 0xa, 0xb, 0, a)).1,
        AdditionalSense::INVALID_FIELD_IN_PARAMETER_LIST
    );
    // Move with UNREG: nexus 1 now holds with key 0xb, nexus 0 is gone.
    assert!(register_and_move(&mut lu, 0, 0xa, 0xb, 0x02, b).is_good());
    assert_eq!(reservation(&mut lu), Some((0xb, 1)));
    assert_eq!(keys(&mut lu).1, vec![0xb]);
    let w = run_on(
        &mut lu,
        NexusId(1),
        &cdb10(0x2a, 0, 0, 1),
        0,
        &vec![0; BS as usize],
    )
    .1;
    assert!(w.is_good());
    let w = run(&mut lu, &cdb10(0x2a, 0, 0, 1), 0, &vec![0; BS as usize]).1;
    assert_eq!(w.status, Status::RESERVATION_CONFLICT);
}
