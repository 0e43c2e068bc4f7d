//! The session registry: TSIH allocation, session reinstatement by (initiator, ISID, target)
//! (RFC 7143 §6.3.5), the session limit, and stable I_T nexus indices for the logical units'
//! unit attentions (SAM-5 §4.6.20, SPC-4 §5.14).

use std::collections::BTreeMap;
use std::fmt;

/// Index of a target in the daemon's directory (the core's `TargetId`).
pub type TargetIndex = u16;

/// Closes the connections of a session that is being reinstated (shuts its socket down).
pub type Closer = Box<dyn FnMut() + Send>;

/// Tells, without blocking, whether a session's peer has already closed its connection (its
/// EOF is queued but the connection's thread has not read it yet).
pub type PeerGone = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

/// The identity of an iSCSI session (RFC 7143 §4.4.1: initiator name, ISID, target).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey {
    /// InitiatorName.
    pub initiator: String,
    /// ISID.
    pub isid: [u8; 6],
    /// The target, `None` for discovery sessions.
    pub target: Option<TargetIndex>,
}

impl fmt::Display for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} isid ", self.initiator)?;
        for b in self.isid {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

struct Session {
    key: SessionKey,
    closer: Option<Closer>,
    peer_gone: Option<PeerGone>,
}

/// Why [`Registry::open`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The session limit is reached.
    TooManySessions,
}

/// A session that was reinstated (closed because the same initiator port logged in again).
#[derive(Debug, PartialEq, Eq)]
pub struct Reinstated {
    /// Its TSIH.
    pub tsih: u16,
    /// Its nexus index, if it had one.
    pub nexus: Option<u16>,
}

/// All sessions of the daemon.
pub struct Registry {
    sessions: BTreeMap<u16, Session>,
    next_tsih: u16,
    max_sessions: usize,
    /// Nexus index → the I_T nexus it stands for (kept after the session ends, so the same
    /// initiator port gets the same index back).
    nexuses: Vec<Option<(String, [u8; 6], TargetIndex)>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("sessions", &self.sessions.len())
            .field("max_sessions", &self.max_sessions)
            .finish()
    }
}

impl Registry {
    /// An empty registry for at most `max_sessions` sessions and `nexus_slots` nexus indices
    /// (`nexus_slots` must be at least `max_sessions`).
    pub fn new(max_sessions: usize, nexus_slots: usize) -> Registry {
        Registry {
            sessions: BTreeMap::new(),
            next_tsih: 1,
            max_sessions,
            nexuses: vec![None; nexus_slots.max(max_sessions)],
        }
    }

    /// Sessions open now.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is open.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Opens a session for `key`, closing (reinstating) an older one with the same key first.
    /// Returns its TSIH (never 0) and the reinstated session if there was one.
    pub fn open(
        &mut self,
        key: SessionKey,
        closer: Option<Closer>,
    ) -> Result<(u16, Option<Reinstated>), OpenError> {
        let old = self
            .sessions
            .iter()
            .find(|(_, s)| s.key == key)
            .map(|(tsih, _)| *tsih);
        let reinstated = old.and_then(|tsih| {
            let mut s = self.sessions.remove(&tsih)?;
            if let Some(close) = s.closer.as_mut() {
                close();
            }
            Some(Reinstated {
                tsih,
                nexus: self.find_nexus(&s.key),
            })
        });
        if self.sessions.len() >= self.max_sessions {
            return Err(OpenError::TooManySessions);
        }
        let tsih = self.free_tsih().ok_or(OpenError::TooManySessions)?;
        self.sessions.insert(
            tsih,
            Session {
                key,
                closer,
                peer_gone: None,
            },
        );
        Ok((tsih, reinstated))
    }

    /// Closes session `tsih`; returns its key (and nexus index) if it was open.
    pub fn close(&mut self, tsih: u16) -> Option<(SessionKey, Option<u16>)> {
        let s = self.sessions.remove(&tsih)?;
        let nexus = self.find_nexus(&s.key);
        Some((s.key, nexus))
    }

    /// Lets [`Registry::close_departed`] ask whether session `tsih`'s peer is gone.
    pub fn watch(&mut self, tsih: u16, peer_gone: PeerGone) {
        if let Some(s) = self.sessions.get_mut(&tsih) {
            s.peer_gone = Some(peer_gone);
        }
    }

    /// Closes the sessions of `initiator` with `target` whose peer has already closed the
    /// connection, and returns their TSIHs, keys and nexus indices. A new login of the same
    /// initiator thus finds its earlier I_T nexuses lost (SAM-5 §6.3.4) even when their
    /// connection threads have not yet read the EOF; their own `close` later finds nothing.
    pub fn close_departed(
        &mut self,
        initiator: &str,
        target: TargetIndex,
    ) -> Vec<(u16, SessionKey, Option<u16>)> {
        let departed: Vec<u16> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.key.initiator == initiator && s.key.target == Some(target))
            .filter(|(_, s)| s.peer_gone.as_ref().is_some_and(|gone| gone()))
            .map(|(tsih, _)| *tsih)
            .collect();
        departed
            .into_iter()
            .filter_map(|tsih| {
                let mut s = self.sessions.remove(&tsih)?;
                if let Some(close) = s.closer.as_mut() {
                    close();
                }
                let nexus = self.find_nexus(&s.key);
                Some((tsih, s.key, nexus))
            })
            .collect()
    }

    /// The key of open session `tsih`.
    pub fn key(&self, tsih: u16) -> Option<&SessionKey> {
        self.sessions.get(&tsih).map(|s| &s.key)
    }

    /// Closes every session's connections (shutdown).
    pub fn close_all(&mut self) {
        for s in self.sessions.values_mut() {
            if let Some(close) = s.closer.as_mut() {
                close();
            }
        }
    }

    fn free_tsih(&mut self) -> Option<u16> {
        for _ in 0..=u16::MAX {
            let t = self.next_tsih;
            self.next_tsih = self.next_tsih.wrapping_add(1).max(1);
            if t != 0 && !self.sessions.contains_key(&t) {
                return Some(t);
            }
        }
        None
    }

    fn find_nexus(&self, key: &SessionKey) -> Option<u16> {
        let target = key.target?;
        self.nexuses
            .iter()
            .position(|n| {
                n.as_ref().is_some_and(|(i, isid, t)| {
                    *i == key.initiator && *isid == key.isid && *t == target
                })
            })
            .and_then(|p| u16::try_from(p).ok())
    }

    /// The nexus index of (`initiator`, `isid`, `target`): the one it had before, else a free
    /// slot, else the slot of a nexus with no open session. `None` only when every slot
    /// belongs to an open session (cannot happen with `nexus_slots >= max_sessions`).
    pub fn nexus(&mut self, initiator: &str, isid: [u8; 6], target: TargetIndex) -> Option<u16> {
        let key = SessionKey {
            initiator: initiator.to_owned(),
            isid,
            target: Some(target),
        };
        if let Some(n) = self.find_nexus(&key) {
            return Some(n);
        }
        let live = |n: &Option<(String, [u8; 6], TargetIndex)>| {
            n.as_ref().is_some_and(|(i, isid, t)| {
                self.sessions.values().any(|s| {
                    s.key.initiator == *i && s.key.isid == *isid && s.key.target == Some(*t)
                })
            })
        };
        let slot = self
            .nexuses
            .iter()
            .position(Option::is_none)
            .or_else(|| self.nexuses.iter().position(|n| !live(n)))?;
        let entry = self.nexuses.get_mut(slot)?;
        *entry = Some((key.initiator, isid, target));
        u16::try_from(slot).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn key(i: &str, isid: u8, t: Option<u16>) -> SessionKey {
        SessionKey {
            initiator: i.into(),
            isid: [isid; 6],
            target: t,
        }
    }

    #[test]
    fn tsihs_are_unique_and_nonzero() {
        let mut r = Registry::new(10, 10);
        let a = r.open(key("a", 1, Some(0)), None).unwrap().0;
        let b = r.open(key("a", 2, Some(0)), None).unwrap().0;
        assert!(a != 0 && b != 0 && a != b);
        assert_eq!(r.len(), 2);
        assert!(r.close(a).is_some());
        assert!(r.close(a).is_none());
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn same_key_reinstates_and_closes_the_old_session() {
        let closed = Arc::new(AtomicUsize::new(0));
        let c = closed.clone();
        let mut r = Registry::new(1, 1);
        let (old, none) = r
            .open(
                key("a", 1, Some(0)),
                Some(Box::new(move || {
                    c.fetch_add(1, Ordering::SeqCst);
                })),
            )
            .unwrap();
        assert!(none.is_none());
        // The limit is 1, but reinstatement frees the old slot first.
        let (new, re) = r.open(key("a", 1, Some(0)), None).unwrap();
        assert_eq!(re.map(|r| r.tsih), Some(old));
        assert_ne!(new, old);
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        // The old connection's later end_session is harmless.
        assert!(r.close(old).is_none());
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn departed_sessions_of_the_same_initiator_close_at_its_next_login() {
        let mut r = Registry::new(4, 4);
        let gone = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let closed = Arc::new(AtomicUsize::new(0));
        let (g, c) = (gone.clone(), closed.clone());
        let (old, _) = r
            .open(
                key("a", 1, Some(0)),
                Some(Box::new(move || {
                    c.fetch_add(1, Ordering::SeqCst);
                })),
            )
            .unwrap();
        r.watch(old, Arc::new(move || g.load(Ordering::SeqCst)));
        let other = r.open(key("b", 1, Some(0)), None).unwrap().0;
        r.watch(other, Arc::new(|| true));
        assert!(r.close_departed("a", 0).is_empty(), "peer still there");
        gone.store(true, Ordering::SeqCst);
        assert!(r.close_departed("a", 1).is_empty(), "another target");
        let n = r.nexus("a", [1; 6], 0);
        let closed_now = r.close_departed("a", 0);
        assert_eq!(closed_now.len(), 1);
        assert_eq!(closed_now[0].0, old);
        assert_eq!(closed_now[0].2, n);
        assert_eq!(closed.load(Ordering::SeqCst), 1);
        assert!(
            r.close(old).is_none(),
            "the old thread's close finds nothing"
        );
        assert!(r.key(other).is_some(), "other initiators are not probed");
    }

    #[test]
    fn limit_refuses() {
        let mut r = Registry::new(2, 2);
        r.open(key("a", 1, None), None).unwrap();
        r.open(key("b", 1, None), None).unwrap();
        assert_eq!(
            r.open(key("c", 1, None), None),
            Err(OpenError::TooManySessions)
        );
    }

    #[test]
    fn nexus_indices_are_stable_and_recycled() {
        let mut r = Registry::new(2, 2);
        let (ta, _) = r.open(key("a", 1, Some(0)), None).unwrap();
        let na = r.nexus("a", [1; 6], 0).unwrap();
        assert_eq!(r.nexus("a", [1; 6], 0), Some(na));
        r.open(key("b", 1, Some(0)), None).unwrap();
        let nb = r.nexus("b", [1; 6], 0).unwrap();
        assert_ne!(na, nb);
        assert_eq!(r.close(ta).map(|(_, n)| n), Some(Some(na)));
        // "c" takes the slot of "a", whose session is gone.
        r.open(key("c", 1, Some(0)), None).unwrap();
        assert_eq!(r.nexus("c", [1; 6], 0), Some(na));
    }
}
