//! Target URLs in libiscsi's form: `iscsi://[user%secret@]host[:port][/target-iqn[/lun]]`, with
//! `iser://` for the RDMA transport; IPv6 hosts in brackets. A bare `host[:port]` names a portal.

use std::fmt;

/// The iSCSI well-known port (RFC 7143 §4.1 / IANA).
pub const DEFAULT_PORT: u16 = 3260;

/// Which datamover a URL asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// iSCSI over TCP.
    Tcp,
    /// iSER over RDMA (RFC 7145).
    Iser,
}

/// A parsed target URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetUrl {
    pub transport: Transport,
    /// CHAP name and secret from `user%secret@`.
    pub chap: Option<(String, String)>,
    /// Host name or address (brackets removed from IPv6).
    pub host: String,
    pub port: u16,
    /// Target IQN, when given.
    pub target: Option<String>,
    /// LUN, when given.
    pub lun: Option<u16>,
}

/// Why a URL could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError(pub String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

fn err(url: &str, what: &str) -> UrlError {
    UrlError(format!(
        "bad URL {url:?}: {what} (expected iscsi://[user%secret@]host[:port]/target-iqn/lun)"
    ))
}

impl TargetUrl {
    /// Parses a URL or a bare portal (`host[:port]`).
    pub fn parse(url: &str) -> Result<TargetUrl, UrlError> {
        let (transport, rest) = if let Some(r) = url.strip_prefix("iscsi://") {
            (Transport::Tcp, r)
        } else if let Some(r) = url.strip_prefix("iser://") {
            (Transport::Iser, r)
        } else if url.contains("://") {
            return Err(err(url, "unknown scheme"));
        } else {
            (Transport::Tcp, url)
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (chap, hostport) = match authority.rfind('@') {
            Some(i) => {
                let creds = &authority[..i];
                let (user, secret) = creds
                    .split_once('%')
                    .ok_or_else(|| err(url, "credentials must be user%secret"))?;
                if user.is_empty() || secret.is_empty() {
                    return Err(err(url, "empty CHAP user or secret"));
                }
                (
                    Some((user.to_string(), secret.to_string())),
                    &authority[i + 1..],
                )
            }
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport).ok_or_else(|| err(url, "bad host:port"))?;
        let mut target = None;
        let mut lun = None;
        if let Some(path) = path {
            let path = path.trim_end_matches('/');
            let mut parts = path.splitn(2, '/');
            if let Some(t) = parts.next().filter(|t| !t.is_empty()) {
                target = Some(t.to_string());
            }
            if let Some(l) = parts.next() {
                lun = Some(
                    l.parse::<u16>()
                        .ok()
                        .filter(|&n| n <= 0x3fff)
                        .ok_or_else(|| err(url, "LUN must be a number below 16384"))?,
                );
            }
        }
        Ok(TargetUrl {
            transport,
            chap,
            host,
            port,
            target,
            lun,
        })
    }

    /// `host:port`, bracketing IPv6 addresses, for connecting and messages.
    pub fn portal(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Splits `host[:port]` (IPv6 in brackets).
fn split_host_port(s: &str) -> Option<(String, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        let host = &rest[..end];
        let port = match &rest[end + 1..] {
            "" => DEFAULT_PORT,
            p => p.strip_prefix(':')?.parse().ok()?,
        };
        return (!host.is_empty()).then(|| (host.to_string(), port));
    }
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (s, DEFAULT_PORT),
    };
    (!host.is_empty() && !host.contains(':')).then(|| (host.to_string(), port))
}

/// Parses a `TargetAddress` value from SendTargets: `host[:port][,tag]`.
pub fn parse_target_address(a: &str) -> Option<(String, u16)> {
    let hostport = a.rsplit_once(',').map_or(a, |(h, _)| h);
    split_host_port(hostport)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_url() {
        let u =
            TargetUrl::parse("iscsi://alice%s3cret@10.0.0.1:3270/iqn.2026-01.test:lun/1").unwrap();
        assert_eq!(u.transport, Transport::Tcp);
        assert_eq!(u.chap, Some(("alice".into(), "s3cret".into())));
        assert_eq!(u.host, "10.0.0.1");
        assert_eq!(u.port, 3270);
        assert_eq!(u.target.as_deref(), Some("iqn.2026-01.test:lun"));
        assert_eq!(u.lun, Some(1));
        assert_eq!(u.portal(), "10.0.0.1:3270");
    }

    #[test]
    fn portal_forms() {
        let u = TargetUrl::parse("127.0.0.1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target),
            ("127.0.0.1", 3260, None)
        );
        let u = TargetUrl::parse("iscsi://[::1]:3300/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 3300));
        assert_eq!(u.portal(), "[::1]:3300");
        let u = TargetUrl::parse("iser://host/iqn.x:y").unwrap();
        assert_eq!(u.transport, Transport::Iser);
        assert_eq!(u.lun, None);
        // A secret may contain '@' before the last one.
        let u = TargetUrl::parse("iscsi://u%p@ss@h/t/0").unwrap();
        assert_eq!(u.chap, Some(("u".into(), "p@ss".into())));
    }

    #[test]
    fn iser_urls() {
        let u = TargetUrl::parse("iser://10.0.2.15/iqn.2026-11.rs.iserd:vm/0").unwrap();
        assert_eq!(u.transport, Transport::Iser);
        assert_eq!(u.portal(), "10.0.2.15:3260");
        assert_eq!(u.target.as_deref(), Some("iqn.2026-11.rs.iserd:vm"));
        assert_eq!(u.lun, Some(0));
        let u = TargetUrl::parse("iser://a%b@[fe80::1]:3261/iqn.x:y/3/").unwrap();
        assert_eq!(u.transport, Transport::Iser);
        assert_eq!(u.chap, Some(("a".into(), "b".into())));
        assert_eq!(u.portal(), "[fe80::1]:3261");
        assert_eq!(u.lun, Some(3));
        let u = TargetUrl::parse("iser://host:3262").unwrap();
        assert_eq!((u.port, u.target, u.lun), (3262, None, None));
        for bad in ["iser://", "iser://h/t/-1", "iser:/h/t/0", "isers://h/t/0"] {
            assert!(TargetUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_urls() {
        for bad in [
            "http://h/t/0",
            "iscsi:///t/0",
            "iscsi://h:notaport/t/0",
            "iscsi://h/t/x",
            "iscsi://h/t/99999",
            "iscsi://user@h/t/0",
            "iscsi://%p@h/t/0",
            "iscsi://::1/t",
        ] {
            assert!(TargetUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn target_address() {
        assert_eq!(
            parse_target_address("127.0.0.1:3260,1"),
            Some(("127.0.0.1".into(), 3260))
        );
        assert_eq!(
            parse_target_address("[fe80::1]:3261,2"),
            Some(("fe80::1".into(), 3261))
        );
        assert_eq!(parse_target_address("host"), Some(("host".into(), 3260)));
    }
}
