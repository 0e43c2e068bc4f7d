//! Errors of the verbs wrapper: which verb failed, and the OS error it gave.

use std::fmt;
use std::io;

/// What went wrong in a verbs or RDMA CM call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The machine has no RDMA device: the device list was empty or could not be read
    /// (`ibv_get_device_list` fails with ENOSYS where the kernel has no RDMA, and
    /// `rdma_create_event_channel` with ENODEV).
    NoDevices {
        /// The verb that found none.
        verb: &'static str,
        /// The OS error, when the verb reported one.
        source: Option<io::Error>,
    },
    /// A verb failed.
    Verb {
        /// The libibverbs / librdmacm function.
        verb: &'static str,
        /// The OS error it reported.
        source: io::Error,
    },
    /// A request the wrapper refuses (a buffer outside the region, a tagged work request id).
    Invalid(&'static str),
    /// The peer or the device did not answer in time.
    Timeout(&'static str),
    /// The peer refused the connection (RDMA CM REJECT): `status` is the CM's reject reason
    /// (IB CM: 8 = invalid service ID, nothing listens there; 28 = consumer defined, the
    /// peer's application refused), with the peer's private data.
    Rejected {
        /// The reject reason.
        status: i32,
        /// The peer's private data, if it sent any.
        private_data: Vec<u8>,
    },
    /// The connection manager reported `event` instead of progress while `stage`.
    Cm {
        /// What we were doing ("resolving the route").
        stage: &'static str,
        /// The event it reported (`RDMA_CM_EVENT_ROUTE_ERROR`).
        event: String,
        /// Its status (a negative errno for resolve errors).
        status: i32,
    },
}

impl Error {
    /// A failed verb with the thread's `errno`.
    pub(crate) fn last(verb: &'static str) -> Error {
        Error::Verb {
            verb,
            source: io::Error::last_os_error(),
        }
    }

    /// A failed verb that returned its error number (libibverbs style) or -1 with `errno`.
    pub(crate) fn code(verb: &'static str, ret: i32) -> Error {
        let source = if ret > 0 {
            io::Error::from_raw_os_error(ret)
        } else {
            io::Error::last_os_error()
        };
        Error::Verb { verb, source }
    }

    /// Whether this says that the machine has no RDMA device at all.
    pub fn is_no_device(&self) -> bool {
        match self {
            Error::NoDevices { .. } => true,
            Error::Verb { source, .. } => {
                matches!(source.raw_os_error(), Some(libc::ENODEV | libc::ENOSYS))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoDevices {
                verb,
                source: Some(e),
            } => write!(f, "no RDMA devices ({verb}: {e})"),
            Error::NoDevices { verb, source: None } => {
                write!(f, "no RDMA devices ({verb} lists none)")
            }
            Error::Verb { verb, source } => write!(f, "{verb}: {source}"),
            Error::Invalid(what) => write!(f, "invalid request: {what}"),
            Error::Timeout(what) => write!(f, "timed out: {what}"),
            Error::Rejected {
                status,
                private_data,
            } => {
                write!(
                    f,
                    "the peer rejected the connection (reject reason {status}"
                )?;
                if *status == 8 {
                    write!(f, ": nothing listens there")?;
                }
                if !private_data.is_empty() {
                    let hex: String = private_data
                        .iter()
                        .take(8)
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    write!(f, ", private data {hex}")?;
                }
                write!(f, ")")
            }
            Error::Cm {
                stage,
                event,
                status,
            } => {
                write!(f, "{stage}: {event}")?;
                if *status < 0 {
                    write!(f, " ({})", io::Error::from_raw_os_error(-status))
                } else {
                    write!(f, " (status {status})")
                }
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::NoDevices {
                source: Some(e), ..
            }
            | Error::Verb { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_verb_and_the_os_error() {
        let e = Error::NoDevices {
            verb: "ibv_get_device_list",
            source: Some(io::Error::from_raw_os_error(libc::ENOSYS)),
        };
        let s = e.to_string();
        assert!(
            s.starts_with("no RDMA devices (ibv_get_device_list: "),
            "{s}"
        );
        assert!(s.contains("os error 38"), "{s}");
        assert!(e.is_no_device());
        let e = Error::code("rdma_create_event_channel", libc::ENODEV);
        assert!(e.is_no_device());
        assert!(e.to_string().starts_with("rdma_create_event_channel: "));
        assert!(std::error::Error::source(&e).is_some());
        assert!(!Error::code("ibv_post_send", libc::ENOMEM).is_no_device());
        let e = Error::Rejected {
            status: 8,
            private_data: vec![],
        };
        assert_eq!(
            e.to_string(),
            "the peer rejected the connection (reject reason 8: nothing listens there)"
        );
        let e = Error::Cm {
            stage: "resolving the address",
            event: "RDMA_CM_EVENT_ADDR_ERROR".into(),
            status: -libc::ENETUNREACH,
        };
        assert!(
            e.to_string().starts_with(
                "resolving the address: RDMA_CM_EVENT_ADDR_ERROR (Network is unreachable"
            ),
            "{e}"
        );
    }
}
