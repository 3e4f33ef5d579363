//! `models/fusion.toml` (written by `emoedge-train fusion calibrate`) is
//! loaded into the pipeline's fusion settings; without it the defaults
//! apply; a broken one is an error naming the file. The temperatures always
//! come from the model files.

use std::path::{Path, PathBuf};

use emoedge_device::board::BoardProfile;
use emoedge_device::clock::MockClock;
use emoedge_device::pipeline::{Pipeline, PipelineConfig};
use emoedge_device::runner::setup::load_models;
use emoedge_shared::format::{self, sample::tiny_classifier, ModelKind};
use emoedge_shared::fusion::FusionConfig;

/// A copy of the host profile in `dir/boards` with a face model (header
/// temperature 1.5) in `dir/models`.
fn setup(dir: &Path) -> (BoardProfile, PathBuf) {
    let boards = dir.join("boards");
    let models = dir.join("models");
    std::fs::create_dir_all(&boards).unwrap();
    std::fs::create_dir_all(&models).unwrap();
    let host = Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/host.toml");
    std::fs::copy(host, boards.join("host.toml")).unwrap();
    let mut face = tiny_classifier(ModelKind::FaceClassifier, 1);
    face.header.temperature = 1.5;
    std::fs::write(models.join("face.emo"), format::encode(&face).unwrap()).unwrap();
    let p = BoardProfile::load_file(&boards.join("host.toml")).unwrap();
    (p, models)
}

#[test]
fn fusion_toml_beside_the_models_sets_the_pipeline_fusion() {
    let dir = tempfile::tempdir().unwrap();
    let (profile, models) = setup(dir.path());
    let paths = profile.model_paths();
    assert_eq!(paths.fusion, models.join("fusion.toml"));

    // Absent: the defaults.
    let loaded = load_models(&paths).unwrap();
    assert_eq!(loaded.fusion, FusionConfig::default());

    // Present: its values; missing keys default; the temperatures in the
    // pipeline are the model file's.
    std::fs::write(
        &paths.fusion,
        "# calibrated\nface_weight = 0.35\nuncertain_threshold = 0.27\nface_temperature = 9.0\n",
    )
    .unwrap();
    let loaded = load_models(&paths).unwrap();
    assert_eq!(
        loaded.fusion,
        FusionConfig {
            face_weight: 0.35,
            uncertain_threshold: 0.27,
            face_temperature: 9.0,
            ..FusionConfig::default()
        }
    );
    let mut config = PipelineConfig::from_profile(&profile);
    config.fusion = loaded.fusion;
    let pipeline = Pipeline::new(
        config,
        loaded.face,
        loaded.voice,
        loaded.finder,
        MockClock::default(),
    )
    .unwrap();
    let f = pipeline.fusion();
    assert_eq!((f.face_weight, f.uncertain_threshold), (0.35, 0.27));
    assert_eq!(f.face_temperature, 1.5, "the header's temperature");

    // Invalid values and broken TOML are errors naming the file.
    for bad in ["face_weight = 2.0\n", "face_weight = \"high\"\n"] {
        std::fs::write(&paths.fusion, bad).unwrap();
        let e = format!("{:#}", load_models(&paths).err().expect("an error"));
        assert!(e.contains("fusion.toml"), "{e}");
    }
}
