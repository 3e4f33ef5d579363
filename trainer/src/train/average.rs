//! Weight averaging of checkpoints ("model soup", as in stochastic weight
//! averaging): the element-wise mean of every weight and BatchNorm running
//! statistic of checkpoints of one network. Checkpoints of one run, or of
//! runs warm-started from one another, lie in one basin of the loss, and
//! their mean often generalises better than any of them.
//!
//! The result is a checkpoint directory (model and run state, no optimiser
//! state) that `face export` and `face train --init` read like any other.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::checkpoint::{self, RunState};
use super::TrainError;
use crate::model::FaceNet;

/// Every float tensor of a network as (shape, values), in visiting order.
type Tensors = Vec<(Vec<usize>, Vec<f32>)>;

/// Collects every float tensor of a module (parameters and running
/// statistics) in visiting order; a read-back failure is kept.
struct Collect(Tensors, Option<String>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let shape = t.dims().to_vec();
        match t.into_data().try_to_vec::<f32>() {
            Ok(v) => self.0.push((shape, v)),
            Err(e) => self.1 = Some(format!("{e:?}")),
        }
    }
}

/// Replaces every float tensor, in visiting order, by the next mean.
struct Replace<'a> {
    means: std::slice::Iter<'a, (Vec<usize>, Vec<f32>)>,
    device: &'a Device,
}

impl ModuleMapper for Replace<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((shape, mean)) = self.means.next() else {
            return param;
        };
        let device = self.device;
        param.map(|t| {
            let grad = t.is_require_grad();
            Tensor::<D>::from_data(TensorData::new(mean.clone(), shape.clone()), device)
                .set_require_grad(grad)
        })
    }
}

fn tensors(model: &FaceNet, dir: &Path) -> Result<Tensors, TrainError> {
    let mut c = Collect(Vec::new(), None);
    model.visit(&mut c);
    match c.1 {
        Some(e) => Err(TrainError::Tensor(format!("{}: {e}", dir.display()))),
        None => Ok(c.0),
    }
}

/// The element-wise mean of the networks saved in `checkpoints` (each a
/// checkpoint directory or its `state.json`), with the run state of the
/// first (its history cleared, `best_val_acc` unknown). Every checkpoint
/// must hold the same architecture; another is refused by name.
pub fn average_checkpoints(
    checkpoints: &[PathBuf],
    device: &Device,
) -> Result<(FaceNet, RunState), TrainError> {
    let Some(first) = checkpoints.first() else {
        return Err(TrainError::Config(
            "face average needs at least one --checkpoint".into(),
        ));
    };
    let first_dir = checkpoint::checkpoint_dir(first);
    let mut state = checkpoint::load_state(&first_dir)?;
    let base = checkpoint::load_model(&first_dir, &state, device)?;
    let mut sums = tensors(&base, &first_dir)?;
    for arg in &checkpoints[1..] {
        let dir = checkpoint::checkpoint_dir(arg);
        let other = checkpoint::load_state(&dir)?;
        if other.config.model != state.config.model {
            return Err(TrainError::Config(format!(
                "{} holds a {:?} network but {} holds {:?}: only checkpoints of one architecture can be averaged",
                dir.display(),
                other.config.model,
                first_dir.display(),
                state.config.model
            )));
        }
        let model = checkpoint::load_model(&dir, &other, device)?;
        for (sum, (_, v)) in sums.iter_mut().zip(tensors(&model, &dir)?) {
            sum.1.iter_mut().zip(v).for_each(|(s, x)| *s += x);
        }
    }
    let n = checkpoints.len() as f32;
    for (_, v) in &mut sums {
        v.iter_mut().for_each(|x| *x /= n);
    }
    let averaged = base.map(&mut Replace {
        means: sums.iter(),
        device,
    });
    state.history.clear();
    state.best_val_acc = 0.0;
    state.best_epoch = 0;
    state.stopped_early = true;
    state.data = format!(
        "mean of {} checkpoints: {}",
        checkpoints.len(),
        checkpoints
            .iter()
            .map(|p| checkpoint::checkpoint_dir(p).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok((averaged, state))
}

/// Averages `checkpoints` and saves the result as the checkpoint `out`.
pub fn average_to(checkpoints: &[PathBuf], out: &Path, device: &Device) -> Result<(), TrainError> {
    let (model, state) = average_checkpoints(checkpoints, device)?;
    checkpoint::save_checkpoint(out, &model, None, &state)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::FaceNetConfig;
    use crate::train::{compute_device, TrainConfig};

    fn config(preset: &str) -> TrainConfig {
        TrainConfig {
            model: FaceNetConfig::preset(preset).expect("preset"),
            ..TrainConfig::default()
        }
    }

    fn save(dir: &Path, config: &TrainConfig, seed: u64, device: &Device) -> FaceNet {
        device.seed(seed);
        let model = config.model.init(device);
        let state = RunState::new(config.clone(), "test".into());
        checkpoint::save_checkpoint(dir, &model, None, &state).expect("saves");
        model
    }

    #[test]
    fn the_average_is_the_mean_of_every_weight_and_statistic() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let device = compute_device();
        let config = config("tiny");
        let a = save(&tmp.path().join("a"), &config, 1, &device);
        let b = save(&tmp.path().join("b"), &config, 2, &device);
        let paths = [tmp.path().join("a"), tmp.path().join("b/state.json")];
        let out = tmp.path().join("soup");
        average_to(&paths, &out, &device).expect("averages");
        let state = checkpoint::load_state(&out).expect("state");
        let soup = checkpoint::load_model(&out, &state, &device).expect("loads");
        let (ta, tb) = (tensors(&a, &out).expect("a"), tensors(&b, &out).expect("b"));
        let ts = tensors(&soup, &out).expect("soup");
        assert_eq!(ts.len(), ta.len());
        let mut differ = 0;
        for ((x, y), s) in ta.iter().zip(&tb).zip(&ts) {
            assert_eq!(s.0, x.0, "shapes are kept");
            for ((x, y), s) in x.1.iter().zip(&y.1).zip(&s.1) {
                assert!((s - (x + y) / 2.0).abs() < 1e-6, "{s} vs {x}, {y}");
                differ += usize::from(x != y);
            }
        }
        assert!(differ > 100, "the two seeds differ ({differ} values)");
        assert!(state.data.contains("mean of 2"), "{}", state.data);

        let one = tmp.path().join("one");
        average_to(&paths[..1], &one, &device).expect("one checkpoint");
        let s1 = checkpoint::load_state(&one).expect("state");
        let m1 = checkpoint::load_model(&one, &s1, &device).expect("loads");
        assert_eq!(
            tensors(&m1, &one).expect("m1"),
            ta,
            "the mean of one is itself"
        );
    }

    #[test]
    fn another_architecture_or_a_missing_checkpoint_is_refused() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let device = compute_device();
        let (tiny, vgg16) = (config("tiny"), config("vgg16"));
        save(&tmp.path().join("a"), &tiny, 1, &device);
        save(&tmp.path().join("b"), &vgg16, 1, &device);
        let err = average_checkpoints(&[tmp.path().join("a"), tmp.path().join("b")], &device)
            .expect_err("two architectures")
            .to_string();
        assert!(
            err.contains("one architecture") && err.contains('b'),
            "{err}"
        );
        let err = average_checkpoints(&[tmp.path().join("a"), tmp.path().join("gone")], &device)
            .expect_err("missing")
            .to_string();
        assert!(err.contains("gone"), "{err}");
        assert!(average_checkpoints(&[], &device).is_err());
    }
}
