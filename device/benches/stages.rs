//! The stages of `emoedge bench` under criterion, single-threaded, with the
//! repository's `boards/host.toml` and its model files (`models/`):
//! face detector at 320x240 and 640x480, face model int8 and f32, voice
//! model int8 and f32, log-mel of one second of audio, one fusion step, one
//! 320x240 frame with one face from pixels to fused decision
//! (`frame_pipeline`) and one voice window from samples to probabilities.
//!
//! Run with `cargo bench -p emoedge-device --bench stages` (criterion's
//! filter works: `... -- face_`). Until the trained voice model is in
//! `models/`, the voice stages run on a stand-in of the same shape
//! (`emoedge_device::bench::stand_in_voice_model`, pseudo-random weights:
//! the same cost), with a note on standard error.

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use emoedge_device::bench::{stand_in_voice_model, BenchModels, Stages};
use emoedge_device::board::BoardProfile;
use emoedge_shared::runtime::Model;

fn stages(c: &mut Criterion) {
    let profile = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/host.toml");
    let profile = BoardProfile::load_file(&profile).expect("boards/host.toml");
    let mut models = BenchModels::from_profile(&profile).expect("the model files load");
    if models.voice_int8.is_none() && models.voice_f32.is_none() {
        let (int8, f32) = stand_in_voice_model().expect("stand-in voice model");
        models.voice_int8 = Some(Model::from_model(&int8).expect("int8 stand-in builds"));
        models.voice_f32 = Some(Model::from_model(&f32).expect("f32 stand-in builds"));
        models.notes.push(
            "no voice model in models/: voice stages on a stand-in shaped like the v16 preset (pseudo-random weights)"
                .into(),
        );
    }
    let Stages { stages, notes } = Stages::prepare(&models, &profile).expect("bench stages");
    for n in &notes {
        eprintln!("note: {n}");
    }
    let mut group = c.benchmark_group("stages");
    for mut stage in stages {
        group.bench_function(stage.name, |b| b.iter(|| (stage.run)().unwrap()));
    }
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
