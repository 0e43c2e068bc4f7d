//! Linker scripts per target, and the configuration blob linked into the image
//! (`FW_CONFIG=path` picks another blob, e.g. a corrupt one for the failure test).

use std::path::PathBuf;
use std::{env, fs};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "none" {
        match arch.as_str() {
            "aarch64" => {
                copy(
                    &dir.join("link/aarch64-virt.ld"),
                    &out.join("aarch64-virt.ld"),
                );
                println!("cargo:rustc-link-arg-bins=-Taarch64-virt.ld");
            }
            "arm" => {
                copy(&dir.join("link/memory-mps2-an386.x"), &out.join("memory.x"));
                println!("cargo:rustc-link-arg-bins=-Tlink.x");
            }
            _ => {}
        }
        println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
        println!("cargo:rustc-link-search={}", out.display());
    }
    let blob = match env::var_os("FW_CONFIG") {
        Some(path) => PathBuf::from(path),
        None => dir.join("config/default.postcard"),
    };
    if blob.exists() || env::var_os("FW_CONFIG").is_some() {
        copy(&blob, &out.join("config.postcard"));
    } else {
        // Not generated yet (`cargo test --lib` writes it): the image reports an empty blob.
        let _ = fs::write(out.join("config.postcard"), []);
    }
    println!("cargo:rerun-if-env-changed=FW_CONFIG");
    println!("cargo:rerun-if-changed={}", blob.display());
    println!("cargo:rerun-if-changed=link");
}

fn copy(from: &std::path::Path, to: &std::path::Path) {
    if let Err(e) = fs::copy(from, to) {
        println!("cargo:warning=cannot copy {}: {e}", from.display());
        std::process::exit(1);
    }
}
