//! Socket addresses between `std` and the C `sockaddr` the RDMA CM takes and reports.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// `addr` as a `sockaddr_storage` (which the CM reads as `sockaddr_in` or `sockaddr_in6`).
pub(crate) fn to_storage(addr: SocketAddr) -> libc::sockaddr_storage {
    // SAFETY: `sockaddr_storage` is plain old data; all-zero bytes are a valid (AF_UNSPEC)
    // value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sockaddr_storage` is larger than and aligned for `sockaddr_in`.
            unsafe {
                std::ptr::write(
                    (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>(),
                    sin,
                )
            };
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: `sockaddr_storage` is larger than and aligned for `sockaddr_in6`.
            unsafe {
                std::ptr::write(
                    (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>(),
                    sin6,
                )
            };
        }
    }
    storage
}

/// Reads a socket address the CM reported.
///
/// # Safety
/// `sa` must point to a readable socket address of the size its family implies (the CM's
/// address fields are `sockaddr_storage`-sized unions, which always is).
pub(crate) unsafe fn from_sockaddr(sa: *const libc::sockaddr) -> Option<SocketAddr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: non-null and readable per the contract; `sa_family` is the first field of
    // every socket address.
    let family = i32::from(unsafe { (*sa).sa_family });
    match family {
        libc::AF_INET => {
            // SAFETY: family AF_INET: the caller's storage holds a `sockaddr_in`;
            // `read_unaligned` makes no alignment assumption.
            let sin = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in>()) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for `sockaddr_in6`.
            let sin6 = unsafe { std::ptr::read_unaligned(sa.cast::<libc::sockaddr_in6>()) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        for a in [
            "10.0.2.15:3260",
            "0.0.0.0:0",
            "127.0.0.1:65535",
            "[::1]:3260",
            "[fe80::1%2]:3260",
        ] {
            let a: SocketAddr = a.parse().unwrap();
            let s = to_storage(a);
            let back = unsafe { from_sockaddr((&s as *const libc::sockaddr_storage).cast()) };
            assert_eq!(back, Some(a));
        }
        let zero: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        assert_eq!(
            unsafe { from_sockaddr((&zero as *const libc::sockaddr_storage).cast()) },
            None
        );
        assert_eq!(unsafe { from_sockaddr(std::ptr::null()) }, None);
    }

    #[test]
    fn port_is_network_order() {
        let s = to_storage("1.2.3.4:3260".parse().unwrap());
        let sin = unsafe { &*(&s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        assert_eq!(sin.sin_port.to_ne_bytes(), 3260u16.to_be_bytes());
        assert_eq!(sin.sin_addr.s_addr.to_ne_bytes(), [1, 2, 3, 4]);
    }
}
