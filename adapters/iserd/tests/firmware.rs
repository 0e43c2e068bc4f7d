//! `iserd firmware-config`: TOML → firmware blob → decode gives back the configuration the
//! daemon itself would use; what the blob cannot carry is refused with the key named; the
//! checked-in firmware blob is the tool's output for the checked-in example.

use std::path::{Path, PathBuf};
use std::process::Command;

use iser_core::config::blob;
use iserd::config::Config;
use iserd::firmware;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware/config/example.toml")
}

#[test]
fn test_example_round_trips_to_the_daemon_config() {
    let config = Config::load(&example()).unwrap();
    let bytes = firmware::encode(&config, "example").unwrap();
    let node = blob::decode(&bytes).unwrap();
    assert_eq!(firmware::from_node(&node), config);
    let t = node.targets.first().unwrap();
    assert_eq!(t.name, "iqn.2026-11.rs.iser:dpu0");
    assert_eq!(t.luns.first().unwrap().blocks, 2048);
    assert_eq!(node.session.queue_depth, 32);
}

#[test]
fn test_rich_config_round_trips() {
    let text = r#"
        [[portal]]
        listen = "[::1]:3261"
        group_tag = 7
        transport = "tcp"
        [[portal]]
        listen = "10.0.0.1:3260"
        [limits]
        max_sessions = 9
        nop_in_interval = 0
        max_outstanding_r2t = 3
        allow_digests = false
        [[target]]
        name = "iqn.2026-11.rs.iser:a"
        [[target.lun]]
        ram = "4MiB"
        block_size = 4096
        physical_block_size = 16384
        read_only = true
        [[target.lun]]
        id = 300
        ram = "64KiB"
        thin = true
        removable = true
        [[target]]
        name = "eui.0123456789abcdef"
        alias = "second"
        [[target.lun]]
        ram = "512"
    "#;
    let config = Config::parse(text, "rich").unwrap();
    let node_bytes = firmware::encode(&config, "rich").unwrap();
    assert_eq!(
        firmware::from_node(&blob::decode(&node_bytes).unwrap()),
        config
    );
}

#[test]
fn test_what_the_blob_cannot_carry_is_refused() {
    let key = |text: &str| {
        let c = Config::parse(text, "t").unwrap();
        firmware::encode(&c, "t").unwrap_err().key
    };
    let target = "[[target]]\nname = \"iqn.2026-11.rs.iser:a\"\n";
    assert_eq!(
        key(&format!("{target}[[target.lun]]\nfile = \"/dev/null\"\n")),
        "target[0].lun[0].file"
    );
    assert_eq!(
        key(&format!(
            "{target}[target.chap]\nusername = \"u\"\nsecret = \"0123456789ab\"\n[[target.lun]]\nram = \"1M\"\n"
        )),
        "target[0].chap"
    );
    let luns: String = (0..9).map(|_| "[[target.lun]]\nram = \"1M\"\n").collect();
    assert_eq!(key(&format!("{target}{luns}")), "target[0].lun[8]");
}

#[test]
fn test_cli_writes_the_checked_in_blob() {
    let dir = std::env::temp_dir().join(format!("iserd-fwcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("config.postcard");
    let run = Command::new(env!("CARGO_BIN_EXE_iserd"))
        .arg("firmware-config")
        .arg(example())
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{run:?}");
    assert!(String::from_utf8_lossy(&run.stdout).contains("2 target(s), 3 LUN(s)"));
    let written = std::fs::read(&out).unwrap();
    let checked_in =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../firmware/config/default.postcard");
    assert_eq!(
        std::fs::read(checked_in).unwrap(),
        written,
        "firmware/config/default.postcard is stale: rerun `iserd firmware-config`"
    );
    // A file that is not TOML: exit 2 and the file named.
    std::fs::write(dir.join("bad.toml"), "[[target]\n").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_iserd"))
        .args(["firmware-config"])
        .arg(dir.join("bad.toml"))
        .arg("-o")
        .arg(dir.join("x"))
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("bad.toml"));
    std::fs::remove_dir_all(&dir).unwrap();
}
