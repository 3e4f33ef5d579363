//! The real ALSA capture path, tested without a sound card.
//!
//! How: ALSA's `file` PCM plugin can take its capture data from a file
//! (`infile`) instead of its slave. We define, in a config file of our own,
//!
//! ```text
//! pcm.emoedge_test { type file slave.pcm "null" file "/dev/null"
//!                    infile "<raw S16 samples>" format "raw" }
//! ```
//!
//! and point alsa-lib at it with `ALSA_CONFIG_PATH`, a `:`-separated list
//! of top-level config files, keeping the system `alsa.conf` first so the
//! `null` slave exists. The `null` plugin accepts any rate and format and
//! is always ready, so the capture reads the raw file back as fast as it is
//! asked. `ALSA_CONFIG_PATH` is read when alsa-lib first loads its
//! configuration, so this test binary has a single test that sets it
//! before any ALSA call.
#![cfg(feature = "mic-alsa")]

use std::path::Path;
use std::time::Duration;

use emoedge_device::mic::alsa::{AlsaConfig, AlsaMicrophone};
use emoedge_device::mic::Microphone;

const SYSTEM_ALSA_CONF: &str = "/usr/share/alsa/alsa.conf";

#[test]
fn capture_reads_back_the_file_plugin_input() {
    if !Path::new(SYSTEM_ALSA_CONF).exists() {
        eprintln!("skipped: {SYSTEM_ALSA_CONF} is missing (alsa-lib data files not installed)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // 0.5 s of a known signal at 16 kHz: a ramp that wraps, so every
    // sample position is distinguishable.
    let samples: Vec<i16> = (0..8000)
        .map(|i| ((i * 7) % 30000 - 15000) as i16)
        .collect();
    let raw = dir.path().join("in.raw");
    let bytes: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    std::fs::write(&raw, bytes).unwrap();
    let conf = dir.path().join("emoedge-test.conf");
    std::fs::write(
        &conf,
        format!(
            "pcm.emoedge_test {{\n  type file\n  slave.pcm \"null\"\n  file \"/dev/null\"\n  infile \"{}\"\n  format \"raw\"\n}}\n",
            raw.display()
        ),
    )
    .unwrap();
    std::env::set_var(
        "ALSA_CONFIG_PATH",
        format!("{SYSTEM_ALSA_CONF}:{}", conf.display()),
    );

    let mut mic = AlsaMicrophone::open(&AlsaConfig {
        device: "emoedge_test".into(),
        sample_rate: 16_000,
        period_ms: 20,
        timeout: Duration::from_millis(500),
    })
    .expect("the file-plugin PCM opens for capture");
    assert_eq!(mic.sample_rate(), 16_000);
    assert_eq!(mic.channels(), 1);

    let mut got = Vec::new();
    let mut buf = [0i16; 320];
    while got.len() < samples.len() {
        let n = mic.read(&mut buf).expect("capture read");
        assert!(n > 0 && n <= buf.len());
        got.extend_from_slice(&buf[..n]);
    }
    got.truncate(samples.len());
    assert_eq!(
        got, samples,
        "capture returns the infile's samples in order"
    );
    assert_eq!(mic.overruns(), 0);
}
