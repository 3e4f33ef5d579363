//! The systemd unit and the install script agree with the binary and the
//! repository layout.

use std::path::Path;

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

#[test]
fn the_unit_restarts_on_failure_and_is_fed_by_the_loop() {
    let unit = read("systemd/emoedge.service");
    let directives: Vec<&str> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && l.contains('='))
        .collect();
    for expected in [
        "Type=notify",
        "Restart=on-failure",
        "WatchdogSec=30",
        "KillSignal=SIGTERM",
        "StateDirectory=emoedge",
        "ExecStart=/opt/emoedge/bin/emoedge run --quiet",
    ] {
        assert!(directives.contains(&expected), "no {expected} in the unit");
    }
    // The Pi profiles log where the unit lets the service write.
    for board in ["pi3bplus", "pi4", "pi5", "zero2w"] {
        let p = emoedge_device::board::BoardProfile::load_named(
            board,
            &[Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards")],
        )
        .unwrap();
        assert!(p.log_path().starts_with("/var/lib/emoedge"), "{board}");
    }
}

#[test]
fn the_install_script_installs_what_exists() {
    let script = read("systemd/install.sh");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for (path, installed_as) in [
        ("boards", "/boards/*.toml"),
        ("models/face.emo", "/models/*.emo"),
        ("device/assets/demo/speech.flac", "speech.flac"),
        ("device/assets/demo/frames", "frames/*.jpg"),
        ("device/systemd/emoedge.service", "emoedge.service"),
    ] {
        assert!(root.join(path).exists(), "{path}");
        assert!(
            script.contains(installed_as),
            "install.sh does not install {path}"
        );
    }
    // The binary finds the installed profiles and demo from /opt/emoedge/bin.
    assert!(script.contains("$prefix/boards") && script.contains("$prefix/share/emoedge/demo"));
}
