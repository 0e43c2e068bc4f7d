//! RDMA device discovery (`ibv_get_device_list`).

use std::ffi::CStr;

use crate::error::Error;

/// One RDMA device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The verbs name (`rxe0`, `mlx5_0`).
    pub name: String,
    /// Node GUID, in host order.
    pub node_guid: u64,
}

/// The RDMA devices of this machine. With none, [`Error::NoDevices`] carries the OS error the
/// device list gave (ENOSYS where the kernel has no RDMA at all).
pub fn devices() -> Result<Vec<DeviceInfo>, Error> {
    let mut n: libc::c_int = 0;
    // SAFETY: `n` is a valid out-pointer; the list (or null) is freed below.
    let list = unsafe { rdma_sys::ibv_get_device_list(&mut n) };
    if list.is_null() {
        return Err(Error::NoDevices {
            verb: "ibv_get_device_list",
            source: Some(std::io::Error::last_os_error()),
        });
    }
    let mut out = Vec::new();
    for i in 0..usize::try_from(n).unwrap_or(0) {
        // SAFETY: `list` holds `n` device pointers (then a null terminator).
        let dev = unsafe { *list.add(i) };
        if dev.is_null() {
            break;
        }
        // SAFETY: `dev` is a live device of the list; the name is a NUL-terminated string
        // owned by the device, copied out before the list is freed.
        let name = unsafe { CStr::from_ptr(rdma_sys::ibv_get_device_name(dev)) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: as above.
        let guid = u64::from_be(unsafe { rdma_sys::ibv_get_device_guid(dev) });
        out.push(DeviceInfo {
            name,
            node_guid: guid,
        });
    }
    // SAFETY: `list` came from `ibv_get_device_list` and is freed once; no device pointer is
    // kept.
    unsafe { rdma_sys::ibv_free_device_list(list) };
    if out.is_empty() {
        return Err(Error::NoDevices {
            verb: "ibv_get_device_list",
            source: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the machine has no RDMA (CI hosts) the error says so; where it has (the test VM),
    /// every device has a name.
    #[test]
    fn lists_devices_or_says_there_are_none() {
        match devices() {
            Ok(list) => assert!(list.iter().all(|d| !d.name.is_empty())),
            Err(e) => {
                assert!(e.is_no_device(), "{e}");
                assert!(e.to_string().contains("ibv_get_device_list"), "{e}");
            }
        }
    }
}
