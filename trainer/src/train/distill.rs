//! Knowledge distillation from a teacher model file run through the shared
//! runtime (as the device runs it). Offline, the teacher runs once over the
//! un-augmented training images and its softened probabilities become
//! per-image soft targets. Online ("consistent teaching", Beyer et al. 2022),
//! it labels every augmented batch as the student sees it: dearer per epoch,
//! but the student matches the teacher's function on the views it trains on.

use std::path::Path;

use emoedge_shared::format::{ModelKind, Preprocessing};
use emoedge_shared::runtime::Model;
use emoedge_shared::{Emotion, NUM_CLASSES};
use rayon::prelude::*;

use super::softmax_rows;
use crate::data::{face_preprocessing, FaceSet, FACE_PIXELS, FACE_SIZE};

/// Loads the teacher at `path` and checks that it is a face classifier
/// for the training data's input (48x48 grayscale, the training
/// preprocessing, the seven labels in order). Errors name the file once.
pub fn load_face_teacher(path: &Path) -> Result<Model, String> {
    let name = path.display();
    if !path.is_file() {
        return Err(format!(
            "teacher model {name} does not exist (a resumed run reads the teacher recorded in its checkpoint); check the path, or start a run without --teacher"
        ));
    }
    let model = Model::load(path).map_err(|e| format!("teacher: {e}"))?;
    let h = model.header();
    let mismatch = |what: String| {
        Err(format!(
            "teacher model {name} {what}; --teacher needs an emoedge face classifier for 48x48 grayscale faces (e.g. from `emoedge-train face export` or `face ensemble`)"
        ))
    };
    if h.kind != ModelKind::FaceClassifier {
        return mismatch(format!("is a {:?} model", h.kind));
    }
    let want_shape = [1, 1, FACE_SIZE, FACE_SIZE];
    if model.input_shape() != want_shape {
        return mismatch(format!("has input shape {:?}", model.input_shape()));
    }
    if h.labels
        .iter()
        .map(String::as_str)
        .ne(Emotion::NAMES.iter().copied())
    {
        return mismatch(format!("has labels {:?}", h.labels));
    }
    if model
        .output_shapes()
        .first()
        .map(|s| s.iter().product::<usize>())
        != Some(NUM_CLASSES)
    {
        return mismatch(format!("has output shapes {:?}", model.output_shapes()));
    }
    let want = face_preprocessing();
    match &h.preprocessing {
        Preprocessing::Face(p)
            if p.crop_size == want.crop_size && p.mean == want.mean && p.std == want.std => {}
        other => {
            return mismatch(format!(
                "expects preprocessing {other:?}, not the training data's {want:?}"
            ))
        }
    }
    Ok(model)
}

/// Soft targets of `teacher` for every image of `set`, in order,
/// `NUM_CLASSES` each: `softmax(logits / (header temperature * T))`. The
/// file's own temperature comes first so an ensemble's summed logits count
/// as their mean (and a calibrated model as calibrated).
pub fn face_soft_targets(
    teacher: &Model,
    path: &Path,
    set: &FaceSet,
    temperature: f32,
) -> Result<Vec<f32>, String> {
    let scale = teacher.header().temperature * temperature;
    scaled_probs(teacher, scale, &set.pixels, |i| {
        format!(
            "teacher model {} failed on training image {}",
            path.display(),
            set.sources.get(i).map_or("?", String::as_str)
        )
    })
}

/// `softmax(logits / scale)` of `model` for every 48x48 image of `images`
/// (one after another), in parallel; an error names image `i` through `what`.
fn scaled_probs(
    model: &Model,
    scale: f32,
    images: &[f32],
    what: impl Fn(usize) -> String + Sync,
) -> Result<Vec<f32>, String> {
    let rows: Vec<Vec<f32>> = images
        .par_chunks(FACE_PIXELS)
        .enumerate()
        .map(|(i, img)| {
            let logits = model.run(img).map_err(|e| format!("{}: {e}", what(i)))?;
            Ok(logits.iter().map(|v| v / scale).collect())
        })
        .collect::<Result<_, String>>()?;
    Ok(softmax_rows(&rows.concat()))
}

/// A teacher that labels batches of (augmented) inputs: softened
/// probabilities, `NUM_CLASSES` per input.
pub trait BatchTeacher: Sync {
    /// Probabilities for `inputs` (whole inputs, one after another).
    fn probs(&self, inputs: &[f32]) -> Result<Vec<f32>, String>;
}

/// A face teacher model file applied to augmented 48x48 faces.
pub struct FaceTeacher {
    model: Model,
    path: std::path::PathBuf,
    scale: f32,
}

impl FaceTeacher {
    /// Loads and checks the teacher at `path` (as [`load_face_teacher`])
    /// for distillation temperature `temperature`.
    pub fn load(path: &Path, temperature: f32) -> Result<Self, String> {
        let model = load_face_teacher(path)?;
        let scale = model.header().temperature * temperature;
        Ok(FaceTeacher {
            model,
            path: path.to_path_buf(),
            scale,
        })
    }
}

impl BatchTeacher for FaceTeacher {
    fn probs(&self, inputs: &[f32]) -> Result<Vec<f32>, String> {
        scaled_probs(&self.model, self.scale, inputs, |_| {
            format!(
                "teacher model {} failed on an augmented training image",
                self.path.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FACE_PIXELS;
    use emoedge_shared::format::{self, ModelFile};

    /// An f32 face model file of an untrained tiny network.
    fn teacher_file() -> ModelFile {
        let device = crate::train::compute_device();
        let cfg = crate::model::FaceNetConfig::preset("tiny").expect("tiny");
        crate::export::face_model_file(&cfg.init(&device), "teacher", Vec::new()).expect("exports")
    }

    fn write(dir: &Path, name: &str, file: &ModelFile) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, format::encode(file).expect("encodes")).expect("writes");
        p
    }

    #[test]
    fn soft_targets_use_both_temperatures_and_refuse_other_models() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut set = FaceSet::default();
        for i in 0..3 {
            let px: Vec<f32> = (0..FACE_PIXELS)
                .map(|j| ((i * 7 + j) % 11) as f32 * 0.3 - 1.5)
                .collect();
            set.push(&px, i as u8, format!("img{i}"));
        }
        let file = teacher_file();
        let mut hot_file = file.clone();
        hot_file.header.temperature = 2.0;
        let plain = write(dir.path(), "t1.emo", &file);
        let hot = write(dir.path(), "t2.emo", &hot_file);
        let t1 = load_face_teacher(&plain).expect("loads");
        let t2 = load_face_teacher(&hot).expect("loads");
        let a = face_soft_targets(&t1, &plain, &set, 4.0).expect("runs");
        let b = face_soft_targets(&t2, &hot, &set, 2.0).expect("runs");
        assert_eq!(a.len(), 3 * NUM_CLASSES);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "header temperature 2 x T 2 = T 4");
        }
        let logits = t1.run(set.image(1)).expect("runs");
        let want = softmax_rows(&logits.iter().map(|v| v / 4.0).collect::<Vec<_>>());
        for (x, y) in a[NUM_CLASSES..2 * NUM_CLASSES].iter().zip(&want) {
            assert!((x - y).abs() < 1e-6);
        }

        let mut other = file;
        if let Preprocessing::Face(p) = &mut other.header.preprocessing {
            p.mean = 0.4;
        }
        let bad = write(dir.path(), "other.emo", &other);
        let err = load_face_teacher(&bad).expect_err("other preprocessing");
        assert!(
            err.contains("other.emo") && err.contains("preprocessing"),
            "{err}"
        );
        let missing = dir.path().join("gone.emo");
        let err = load_face_teacher(&missing).expect_err("missing");
        assert!(
            err.contains("gone.emo") && err.contains("does not exist"),
            "{err}"
        );
    }
}
