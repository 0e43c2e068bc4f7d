//! Configuration parsing: the example file, defaults, and an error naming the key for each rule.
// Test code: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use iserd::config::{Backing, Config, ConfigError, Limits, TransportChoice, DEFAULT_TARGET_NAME};
use log::LevelFilter;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/iserd.toml")
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml")
}

const MINIMAL: &str = r#"
[[target]]
name = "iqn.2026-11.rs.iserd:a"
[[target.lun]]
ram = "1MiB"
"#;

#[test]
fn example_file_parses() {
    let c = Config::load(&example()).unwrap();
    assert_eq!(c.log_level, LevelFilter::Info);
    assert_eq!(c.portals.len(), 1);
    assert_eq!(c.portals[0].listen, "127.0.0.1:3260".parse().unwrap());
    assert_eq!(c.portals[0].transport, TransportChoice::Auto);
    assert_eq!(c.limits.max_recv_data_segment_length, 256 << 10);
    assert_eq!(c.limits.nop_in_interval, Some(Duration::from_secs(30)));
    assert_eq!(c.limits.logout_linger, Duration::from_secs(30));
    let d = c.discovery_chap.as_ref().unwrap();
    assert_eq!(d.username, "discovery");
    assert!(d.mutual.is_none());
    assert_eq!(c.targets.len(), 2);
    assert_eq!(c.targets[0].name, DEFAULT_TARGET_NAME);
    assert_eq!(c.targets[0].alias.as_deref(), Some("scratch"));
    assert_eq!(
        c.targets[0].luns[0].backing,
        Backing::Ram { size: 64 << 20 }
    );
    let t = &c.targets[1];
    assert_eq!(
        t.allowed_initiators,
        ["iqn.1993-08.org.debian:01:0123456789ab"]
    );
    let chap = t.chap.as_ref().unwrap();
    assert_eq!(chap.mutual.as_ref().unwrap().1, "target-secret-456");
    assert_eq!(t.luns.len(), 2);
    assert_eq!(
        t.luns[0].backing,
        Backing::File {
            path: "/var/lib/iserd/disk1.img".into(),
            create_size: Some(10 << 30)
        }
    );
    assert!(t.luns[0].thin);
    assert_eq!(t.luns[0].block_size, 4096);
    assert!(t.luns[1].read_only);
    // Secrets never show in debug output.
    assert!(!format!("{c:?}").contains("alice-secret-123"));
}

#[test]
fn defaults_fill_in() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.portals, Config::builtin().portals);
    assert_eq!(c.limits, Limits::default());
    assert_eq!(c.log_level, LevelFilter::Info);
    assert!(c.discovery_chap.is_none());
    let l = &c.targets[0].luns[0];
    assert_eq!(
        (l.id, l.block_size, l.read_only, l.thin),
        (0, 512, false, false)
    );
    assert!(c.targets[0].chap.is_none() && c.targets[0].allowed_initiators.is_empty());
}

#[test]
fn lun_ids_default_to_position_and_sort() {
    let c = parse(
        r#"
[[target]]
name = "iqn.2026-11.rs.iserd:a"
[[target.lun]]
id = 5
ram = 1048576
[[target.lun]]
ram = "1M"
"#,
    )
    .unwrap();
    let ids: Vec<u16> = c.targets[0].luns.iter().map(|l| l.id).collect();
    assert_eq!(ids, [1, 5]);
}

/// Each bad configuration and the key (or line:column) its error must name.
#[test]
fn each_bad_config_names_its_key() {
    let t = "[[target]]\nname = \"iqn.2026-11.rs.iserd:a\"\n";
    let lun = "[[target.lun]]\nram = \"1MiB\"\n";
    let cases: Vec<(String, &str, &str)> = vec![
        ("this is not toml".into(), "1:", "key"),
        (format!("{t}{lun}bogus = 1\n"), "5:", "unknown field"),
        (format!("log_level = \"loud\"\n{t}{lun}"), "log_level", "unknown log level"),
        (format!("[[portal]]\nlisten = \"nowhere\"\n{t}{lun}"), "portal[0].listen", "ADDR:PORT"),
        (format!("[[portal]]\nlisten = \"127.0.0.1:3260\"\ntransport = \"carrier-pigeon\"\n{t}{lun}"), "3:", "unknown variant"),
        (
            format!("[[portal]]\nlisten = \"127.0.0.1:3260\"\n[[portal]]\nlisten = \"127.0.0.1:3260\"\n{t}{lun}"),
            "portal[1].listen",
            "already",
        ),
        ("log_level = \"info\"\n".into(), "target", "no target"),
        ("[[target]]\nname = \"iqn.2026-11.rs.iserd:a\"\n".into(), "target[0].lun", "at least one LUN"),
        (format!("[[target]]\nname = \"Target One\"\n{lun}"), "target[0].name", "not allowed"),
        (format!("[[target]]\nname = \"iqn.x\"\n{lun}"), "target[0].name", "iqn.YYYY-MM"),
        (format!("{t}{lun}{t}{lun}"), "target[1].name", "already the name of target[0]"),
        (format!("{t}allowed_initiators = [\"bob\"]\n{lun}"), "target[0].allowed_initiators[0]", "iqn."),
        (format!("{t}allowed_addresses = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n{lun}"), "target[0].allowed_addresses[1]", "0..=32"),
        (format!("{t}allowed_addresses = [\"lan\"]\n{lun}"), "target[0].allowed_addresses[0]", "ADDR/PREFIX"),
        (format!("[limits]\nmax_login_requests = 0\n{t}{lun}"), "limits.max_login_requests", "1..=1024"),
        (format!("{t}[[target.lun]]\nread_only = true\n"), "target[0].lun[0]", "needs `ram"),
        (format!("{t}[[target.lun]]\nram = \"1M\"\nfile = \"/x\"\n"), "target[0].lun[0]", "not both"),
        (format!("{t}[[target.lun]]\nram = \"1000\"\n"), "target[0].lun[0].ram", "multiple of the block size"),
        (format!("{t}[[target.lun]]\nram = \"1MB\"\n"), "4:", "ambiguous"),
        (format!("{t}[[target.lun]]\nram = \"1M\"\nsize = \"1M\"\n"), "target[0].lun[0].size", "only for `file`"),
        (format!("{t}[[target.lun]]\nfile = \"/x\"\nsize = \"100\"\n"), "target[0].lun[0].size", "multiple"),
        (format!("{t}[[target.lun]]\nfile = \"\"\n"), "target[0].lun[0].file", "empty"),
        (format!("{t}[[target.lun]]\nram = \"1M\"\nblock_size = 1000\n"), "target[0].lun[0].block_size", "512 or 4096"),
        (format!("{t}[[target.lun]]\nid = 20000\nram = \"1M\"\n"), "target[0].lun[0].id", "highest LUN"),
        (format!("{t}[[target.lun]]\nram = \"1M\"\nsanitize_rate = 0\n"), "target[0].lun[0].sanitize_rate", "never finish"),
        (format!("{t}{lun}[[target.lun]]\nid = 0\nram = \"1M\"\n"), "target[0].lun[1].id", "already used"),
        (format!("{t}[target.chap]\nusername = \"u\"\nsecret = \"\"\n{lun}"), "target[0].chap.secret", "empty"),
        (format!("{t}[target.chap]\nusername = \"\"\nsecret = \"s\"\n{lun}"), "target[0].chap.username", "empty"),
        (
            format!("{t}[target.chap]\nusername = \"u\"\nsecret = \"s\"\nmutual_username = \"m\"\n{lun}"),
            "target[0].chap.mutual_secret",
            "needs mutual_secret",
        ),
        (
            format!("{t}[target.chap]\nusername = \"u\"\nsecret = \"s\"\nmutual_secret = \"m\"\n{lun}"),
            "target[0].chap.mutual_username",
            "needs mutual_username",
        ),
        (
            format!("{t}[target.chap]\nusername = \"u\"\nsecret = \"s\"\nmutual_username = \"m\"\nmutual_secret = \"s\"\n{lun}"),
            "target[0].chap.mutual_secret",
            "must differ",
        ),
        (format!("[discovery.chap]\nusername = \"u\"\nsecret = \"\"\n{t}{lun}"), "discovery.chap.secret", "empty"),
        (format!("[limits]\nmax_sessions = 0\n{t}{lun}"), "limits.max_sessions", "outside 1..=256"),
        (format!("[limits]\nmax_sessions = 1000\n{t}{lun}"), "limits.max_sessions", "outside 1..=256"),
        (format!("[limits]\nqueue_depth = 0\n{t}{lun}"), "limits.queue_depth", "outside 1..=128"),
        (format!("[limits]\nqueue_depth = 129\n{t}{lun}"), "limits.queue_depth", "outside 1..=128"),
        (format!("[limits]\nmax_outstanding_r2t = 5\n{t}{lun}"), "limits.max_outstanding_r2t", "outside 1..=4"),
        (format!("[limits]\nnop_in_timeout = 0\n{t}{lun}"), "limits.nop_in_timeout", "at least 1 second"),
        (format!("[limits]\nlogin_timeout = 0\n{t}{lun}"), "limits.login_timeout", "at least 1 second"),
        (format!("[limits]\nlogout_linger = 3601\n{t}{lun}"), "limits.logout_linger", "outside 0..=3600"),
        (format!("[limits]\nmax_burst_length = 100\n{t}{lun}"), "limits.max_burst_length", "512..=16777215"),
        (format!("[limits]\nmax_recv_data_segment_length = \"16MiB\"\n{t}{lun}"), "limits.max_recv_data_segment_length", "outside"),
        (
            format!("[limits]\nmax_burst_length = \"64KiB\"\nfirst_burst_length = \"128KiB\"\n{t}{lun}"),
            "limits.first_burst_length",
            "exceeds max_burst_length",
        ),
        (format!("[limits]\nqueue_depth = -1\n{t}{lun}"), "2:", ""),
    ];
    for (text, key, needle) in cases {
        let e = match parse(&text) {
            Ok(c) => panic!("accepted:\n{text}\n{c:?}"),
            Err(e) => e,
        };
        assert_eq!(e.origin, "test.toml");
        assert!(
            e.key.starts_with(key),
            "key {:?} should start with {key:?} for\n{text}\n{e}",
            e.key
        );
        assert!(
            e.message.contains(needle),
            "{e} should contain {needle:?} for\n{text}"
        );
        let shown = e.to_string();
        assert!(
            shown.starts_with("test.toml: ") && shown.contains(&e.key),
            "{shown}"
        );
    }
}

#[test]
fn missing_file_names_it() {
    let e = Config::load(Path::new("/nonexistent/iserd.toml")).unwrap_err();
    assert_eq!(e.origin, "/nonexistent/iserd.toml");
    assert!(e.message.contains("cannot read"), "{e}");
}
