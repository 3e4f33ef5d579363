//! What the training loop needs from a data set, so faces and voice
//! windows train through the same loop.

use emoedge_shared::NUM_CLASSES;
use rand::rngs::StdRng;

use super::distill::BatchTeacher;
use super::{DistillConfig, TrainConfig};
use crate::augment::augment;
use crate::data::{FaceData, FACE_SIZE};

/// A supervised data set with a training split (augmented on the fly) and
/// a fixed validation split.
pub trait TrainTask: Sync {
    /// Shape `[channels, height, width]` of one input.
    fn input_dims(&self) -> [usize; 3];

    /// Values in one input.
    fn input_len(&self) -> usize {
        self.input_dims().iter().product()
    }

    /// Class of each training example.
    fn train_labels(&self) -> &[u8];

    /// Writes training example `i`, augmented per `cfg` with `rng`, into
    /// `dst` (`input_len` values).
    fn train_example(&self, i: usize, cfg: &TrainConfig, rng: &mut StdRng, dst: &mut [f32]);

    /// Validation inputs, `input_len` values each, never augmented.
    fn val_inputs(&self) -> &[f32];

    /// Class of each validation item (the unit accuracy is counted on).
    fn val_labels(&self) -> &[u8];

    /// Item of each validation input when an item has several inputs whose
    /// probabilities are averaged (the windows of a clip); `None` = one
    /// input per item.
    fn val_groups(&self) -> Option<&[usize]> {
        None
    }

    /// Weight of each validation item in the accuracy that picks the best
    /// checkpoint (e.g. so every corpus counts equally); `None` = equal.
    fn val_item_weights(&self) -> Option<Vec<f64>> {
        None
    }

    /// Validation items counted in the "dedup" accuracy (e.g. faces not
    /// duplicated in training); `None` = all.
    fn val_dedup_keep(&self) -> Option<Vec<usize>> {
        None
    }

    /// One line describing the data for logs and checkpoints.
    fn describe(&self) -> String;

    /// Extra per-epoch validation lines (e.g. accuracy per corpus) for the
    /// predicted class of every validation item.
    fn val_report(&self, _predictions: &[usize]) -> Option<String> {
        None
    }

    /// Knowledge distillation: the teacher's probabilities at the
    /// distillation temperature for every un-augmented training example,
    /// `NUM_CLASSES` each, in training order (an augmented example keeps
    /// the targets of its source). Errors name the teacher file. The
    /// default refuses: only tasks that can run a teacher support it.
    fn soft_targets(&self, distill: &DistillConfig) -> Result<Vec<f32>, String> {
        Err(no_distillation(distill))
    }

    /// Consistent teaching: a teacher that labels augmented batches. The
    /// default refuses, as [`TrainTask::soft_targets`] does.
    fn online_teacher(&self, distill: &DistillConfig) -> Result<Box<dyn BatchTeacher>, String> {
        Err(no_distillation(distill))
    }

    /// Quantisation-aware training: `count` un-augmented training inputs
    /// (seeded) that calibrate the int8 grids, as the export's calibration
    /// does. The default refuses: only tasks with an int8 export support it.
    fn qat_calibration(&self, _count: usize, _seed: u64) -> Result<Vec<&[f32]>, String> {
        Err("--qat: quantisation-aware training is supported for face models only".into())
    }

    /// Training examples per class.
    fn train_class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for &l in self.train_labels() {
            counts[usize::from(l)] += 1;
        }
        counts
    }
}

/// The refusal of a task that cannot run a teacher.
fn no_distillation(distill: &DistillConfig) -> String {
    format!(
        "--teacher {}: knowledge distillation is not supported for this model",
        distill.teacher.display()
    )
}

impl TrainTask for FaceData {
    fn input_dims(&self) -> [usize; 3] {
        [1, FACE_SIZE, FACE_SIZE]
    }

    fn train_labels(&self) -> &[u8] {
        &self.train.labels
    }

    fn train_example(&self, i: usize, cfg: &TrainConfig, rng: &mut StdRng, dst: &mut [f32]) {
        augment(self.train.image(i), dst, &cfg.augment, rng);
    }

    fn val_inputs(&self) -> &[f32] {
        &self.val.pixels
    }

    fn soft_targets(&self, distill: &DistillConfig) -> Result<Vec<f32>, String> {
        let teacher = super::distill::load_face_teacher(&distill.teacher)?;
        super::distill::face_soft_targets(
            &teacher,
            &distill.teacher,
            &self.train,
            distill.temperature,
        )
    }

    fn online_teacher(&self, distill: &DistillConfig) -> Result<Box<dyn BatchTeacher>, String> {
        Ok(Box::new(super::distill::FaceTeacher::load(
            &distill.teacher,
            distill.temperature,
        )?))
    }

    fn val_labels(&self) -> &[u8] {
        &self.val.labels
    }

    fn qat_calibration(&self, count: usize, seed: u64) -> Result<Vec<&[f32]>, String> {
        Ok(crate::export::calibration_images(&self.train, count, seed))
    }

    fn val_dedup_keep(&self) -> Option<Vec<usize>> {
        let dups: std::collections::HashSet<usize> = self.val_duplicates.iter().copied().collect();
        Some((0..self.val.len()).filter(|i| !dups.contains(i)).collect())
    }

    fn describe(&self) -> String {
        format!(
            "{}; train {} {:?}; val {} {:?} ({} duplicated in train)",
            self.layout,
            self.train.len(),
            self.train.class_counts(),
            self.val.len(),
            self.val.class_counts(),
            self.val_duplicates.len()
        )
    }
}
