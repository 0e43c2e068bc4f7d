//! Persistent reservations of file LUNs on disk (SPC-4 §5.13, Activate Persist Through
//! Power Loss): a postcard-encoded sidecar `<backing file>.pr` rewritten atomically (temporary
//! file, fsync, rename, fsync of the directory) after every PERSISTENT RESERVE OUT that changed
//! the state, and read back at start. State saved with APTPL=0 is not restored: SPC-4 says such
//! registrations and the reservation do not survive power loss, and a restart is one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use iser_core::scsi::{FixedStr, PrReservation, PrState, PrType, Registration};
use serde::{Deserialize, Serialize};

/// Format version written first; a file with another version is ignored.
const VERSION: u8 = 1;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Saved {
    version: u8,
    generation: u32,
    aptpl: bool,
    registrations: Vec<SavedRegistration>,
    /// Reservation type and holder (index into the registration slots).
    reservation: Option<(u8, Option<u32>)>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct SavedRegistration {
    /// Slot index in `PrState::registrations` (the reservation holder refers to it).
    slot: u32,
    key: u64,
    initiator_port: String,
    relative_port_id: u16,
}

/// The sidecar of the backing file at `backing`.
pub fn sidecar_path(backing: &Path) -> PathBuf {
    let mut p = backing.as_os_str().to_owned();
    p.push(".pr");
    PathBuf::from(p)
}

fn to_saved<const N: usize>(s: &PrState<N>) -> Saved {
    Saved {
        version: VERSION,
        generation: s.generation,
        aptpl: s.aptpl,
        registrations: s
            .registrations
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let r = r.as_ref()?;
                Some(SavedRegistration {
                    slot: u32::try_from(i).ok()?,
                    key: r.key,
                    initiator_port: r.initiator_port.as_str().to_owned(),
                    relative_port_id: r.relative_port_id,
                })
            })
            .collect(),
        reservation: s
            .reservation
            .map(|r| (r.kind.0, r.holder.and_then(|h| u32::try_from(h).ok()))),
    }
}

fn from_saved<const N: usize>(s: &Saved) -> Option<PrState<N>> {
    let mut state = PrState::<N> {
        generation: s.generation,
        aptpl: s.aptpl,
        ..PrState::default()
    };
    for r in &s.registrations {
        let slot = state.registrations.get_mut(usize::try_from(r.slot).ok()?)?;
        *slot = Some(Registration {
            key: r.key,
            initiator_port: FixedStr::new(&r.initiator_port)?,
            relative_port_id: r.relative_port_id,
        });
    }
    state.reservation = match s.reservation {
        None => None,
        Some((kind, holder)) => Some(PrReservation {
            kind: PrType(kind),
            holder: match holder {
                None => None,
                Some(h) => {
                    let h = usize::try_from(h).ok()?;
                    state.registrations.get(h)?.as_ref()?;
                    Some(h)
                }
            },
        }),
    };
    Some(state)
}

/// Encodes `state` (postcard).
pub fn encode<const N: usize>(state: &PrState<N>) -> io::Result<Vec<u8>> {
    let saved = to_saved(state);
    // Bound: a varint-sized key and slot, the name, and the port per registration.
    let room = saved
        .registrations
        .iter()
        .map(|r| r.initiator_port.len() + 32)
        .sum::<usize>()
        + 64;
    let mut buf = vec![0u8; room];
    let used = postcard::to_slice(&saved, &mut buf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
        .len();
    buf.truncate(used);
    Ok(buf)
}

/// Decodes what [`encode`] wrote; `None` when the bytes are not a state of this version.
pub fn decode<const N: usize>(bytes: &[u8]) -> Option<PrState<N>> {
    let saved: Saved = postcard::from_bytes(bytes).ok()?;
    if saved.version != VERSION {
        return None;
    }
    from_saved(&saved)
}

/// Writes `state` to `path` atomically: a temporary file beside it is written and synced,
/// renamed over `path`, and the directory synced so the rename itself is durable.
pub fn save<const N: usize>(path: &Path, state: &PrState<N>) -> io::Result<()> {
    let bytes = encode(state)?;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// What [`load`] found.
#[derive(Debug)]
pub enum Loaded<const N: usize> {
    /// No sidecar file.
    Missing,
    /// A state saved with APTPL=1: restore it.
    Restore(Box<PrState<N>>),
    /// A state saved with APTPL=0: dropped at restart (SPC-4 §5.13, APTPL).
    NotPersistent,
}

/// Reads the sidecar at `path`.
pub fn load<const N: usize>(path: &Path) -> io::Result<Loaded<N>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) => return Err(e),
    };
    let state = decode::<N>(&bytes).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "not a persistent reservation state of this version",
        )
    })?;
    Ok(if state.aptpl {
        Loaded::Restore(Box::new(state))
    } else {
        Loaded::NotPersistent
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> PrState<8> {
        let mut s = PrState::<8> {
            generation: 7,
            aptpl: true,
            ..PrState::default()
        };
        s.registrations[2] = Some(Registration {
            key: 0xabcd,
            initiator_port: FixedStr::new("iqn.2026-11.x:a,i,0x230000000001").unwrap(),
            relative_port_id: 1,
        });
        s.registrations[5] = Some(Registration {
            key: 9,
            initiator_port: FixedStr::new("iqn.2026-11.x:b,i,0x230000000002").unwrap(),
            relative_port_id: 1,
        });
        s.reservation = Some(PrReservation {
            kind: PrType::WRITE_EXCLUSIVE,
            holder: Some(5),
        });
        s
    }

    #[test]
    fn round_trip_keeps_slots_and_holder() {
        let s = sample();
        let bytes = encode(&s).unwrap();
        assert_eq!(decode::<8>(&bytes), Some(s));
        assert_eq!(decode::<8>(&bytes[..bytes.len() - 1]), None, "truncated");
        assert_eq!(decode::<4>(&bytes), None, "slot 5 does not fit 4 slots");
        let mut other = bytes.clone();
        other[0] = VERSION + 1;
        assert_eq!(decode::<8>(&other), None, "other version");
    }

    #[test]
    fn holder_must_be_registered() {
        let mut s = sample();
        s.registrations[5] = None;
        assert_eq!(decode::<8>(&encode(&s).unwrap()), None);
    }

    #[test]
    fn save_and_load_atomically() {
        let dir = std::env::temp_dir().join(format!("iserd-pr-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = sidecar_path(&dir.join("disk.img"));
        assert!(path.ends_with("disk.img.pr"));
        assert!(matches!(load::<8>(&path).unwrap(), Loaded::Missing));
        save(&path, &sample()).unwrap();
        match load::<8>(&path).unwrap() {
            Loaded::Restore(s) => assert_eq!(*s, sample()),
            other => panic!("{other:?}"),
        }
        let mut s = sample();
        s.aptpl = false;
        save(&path, &s).unwrap();
        assert!(matches!(load::<8>(&path).unwrap(), Loaded::NotPersistent));
        fs::write(&path, b"junk").unwrap();
        assert!(load::<8>(&path).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
