//! Writes a stand-in voice model pair, `voice.emo` (int8) and
//! `voice.f32.emo`, shaped like `emoedge-train voice`'s `v16` preset with
//! pseudo-random weights (`emoedge_device::bench::stand_in_voice_model`):
//! the cost of the real model, none of its meaning. For measuring speed
//! and memory with a voice model (`emoedge bench`, `emoedge run` under
//! `/usr/bin/time -v`) before the trained one is installed; never install
//! it on a device.
//!
//!     cargo run --release -p emoedge-device --example stand_in_voice -- OUT_DIR

use std::path::PathBuf;

use emoedge_device::bench::stand_in_voice_model;
use emoedge_shared::format::encode;

fn main() -> anyhow::Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        anyhow::bail!("usage: stand_in_voice OUT_DIR");
    };
    std::fs::create_dir_all(&dir)?;
    let (int8, f32) = stand_in_voice_model()?;
    for (name, m) in [("voice.emo", &int8), ("voice.f32.emo", &f32)] {
        let path = dir.join(name);
        std::fs::write(&path, encode(m).map_err(|e| anyhow::anyhow!("{e:?}"))?)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
