//! tract-core inference of model files.
//!
//! [`Model`] decodes and validates a model file, lowers its layer graph to
//! a tract `TypedModel` with the fixed input shape of the header,
//! optimises it once and keeps the runnable plan:
//!
//! - f32 layers map to tract's f32 `Conv` (NCHW data, OIHW kernel),
//!   `EinSum`, `MaxPool`, `SumPool`, `Reduce`, `Softmax`, ...;
//! - int8 layers map to tract's quantised `Conv` (`q_params = I8`, nine
//!   inputs `x, kernel, bias, x0, x_scale, k0, k_scale, y0, y_scale`) and
//!   quantised `EinSum` (`EinSum::newq`), whose kernels fuse the
//!   requantisation. Grouped (depthwise) int8 convs, for which tract has
//!   no int8 kernel, run instead on tract's f32 depthwise kernel over the
//!   centred integers `x - x_zp`, `w - w_zp` when the accumulator provably
//!   fits f32 (every partial sum below 2^24), then `QuantizeLinearI8`
//!   requantises it: ten times faster, same accumulator;
//! - tract's int8 convs pack their input patches (its `Im2Col` op) for
//!   the VNNI / dot-product kernels one byte at a time; after optimising,
//!   `patches` swaps in an op writing the same bytes four patch rows at
//!   a time, which halved the face model's int8 latency;
//! - consecutive int8 layers stay in int8 when nothing between them needs
//!   f32 (reshape, flatten, transpose, max pooling, ReLU, channel padding
//!   and concatenation keep the grid); other ops get the dequantised value.
//!
//! Results match [`crate::reference`]: f32 within float rounding, int8
//! layers to within one quantisation step (bit-exact in the tests on
//! x86_64 except, rarely, where an f32 rounding meets a tie). tract runs
//! single-threaded here, as it does by default, and without its AMX
//! int8 kernel ([`select_safe_kernels`]).

mod kernels;
mod lower;
mod patches;

pub use kernels::select_safe_kernels;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_core::model::IntoRunnable;
use tract_core::prelude::{tvec, IntoTValue, Tensor, TypedModel, TypedSimplePlan};

use crate::format::{self, infer_shapes, FormatError, Header, ModelFile, ModelKind};
use crate::reference::{check_input, RefError};

/// Why a model could not be loaded or run. Each message says the cause and
/// the fix.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The model file could not be read.
    #[error("cannot read model file {}: {source}; check the path and its permissions", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The model file (or bytes, when `path` is `None`) is not a valid model.
    #[error("{}: {source}", Origin(path))]
    Format {
        path: Option<PathBuf>,
        #[source]
        source: FormatError,
    },
    /// tract could not build or optimise the inference graph.
    #[error(
        "{}: cannot build the tract graph{}: {message}; the model uses a layer combination this runtime cannot run, re-export it or report the file",
        Origin(path),
        node.as_ref().map(|(i, n)| format!(" at node {i} `{n}`")).unwrap_or_default()
    )]
    Build {
        path: Option<PathBuf>,
        /// Index and name of the node being lowered, if any.
        node: Option<(usize, String)>,
        message: String,
    },
    /// The input holds a different number of values than the model's input shape.
    #[error("input has {found} values but the model expects {expected} (shape {shape:?}); preprocess to the model's input size")]
    InputLength {
        expected: usize,
        found: usize,
        shape: Vec<usize>,
    },
    /// The input holds NaN or an infinity.
    #[error("input value {index} is NaN or infinite; check the preprocessing")]
    NonFiniteInput { index: usize },
    /// tract failed while running (should not happen with a built model).
    #[error("inference failed: {message}")]
    Inference { message: String },
}

/// "model file `x`" or "model".
struct Origin<'a>(&'a Option<PathBuf>);

impl std::fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(p) => write!(f, "model file {}", p.display()),
            None => write!(f, "model"),
        }
    }
}

/// A model ready to run: the header and tract's optimised plan.
#[derive(Debug, Clone)]
pub struct Model {
    header: Header,
    plan: Arc<TypedSimplePlan>,
    input_shape: Vec<usize>,
    input_len: usize,
    output_shapes: Vec<Vec<usize>>,
    int8_layers: usize,
    int8_kernels: usize,
}

impl Model {
    /// Reads, decodes, validates and builds a model file.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, RuntimeError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| RuntimeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::build(&bytes, Some(path))
    }

    /// Decodes, validates and builds model file bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, RuntimeError> {
        Self::build(bytes, None)
    }

    /// Like [`Model::load`], refusing a model of another kind than `kind`.
    pub fn load_kind(path: impl AsRef<Path>, kind: ModelKind) -> Result<Model, RuntimeError> {
        let path = path.as_ref();
        let m = Self::load(path)?;
        m.expect_kind(kind).map_err(|source| RuntimeError::Format {
            path: Some(path.to_path_buf()),
            source,
        })?;
        Ok(m)
    }

    fn build(bytes: &[u8], path: Option<&Path>) -> Result<Model, RuntimeError> {
        let file = format::decode(bytes).map_err(|source| RuntimeError::Format {
            path: path.map(Path::to_path_buf),
            source,
        })?;
        Self::from_model_at(&file, path)
    }

    /// Validates and builds an in-memory model.
    pub fn from_model(file: &ModelFile) -> Result<Model, RuntimeError> {
        Self::from_model_at(file, None)
    }

    fn from_model_at(file: &ModelFile, path: Option<&Path>) -> Result<Model, RuntimeError> {
        Self::from_model_with(file, path, true)
    }

    /// Builds the model; `exact_f32` lets small int8 layers run on tract's
    /// f32 kernels (bit-exact, see `lower`), off only in tests.
    fn from_model_with(
        file: &ModelFile,
        path: Option<&Path>,
        exact_f32: bool,
    ) -> Result<Model, RuntimeError> {
        kernels::select_safe_kernels();
        let format_err = |source| RuntimeError::Format {
            path: path.map(Path::to_path_buf),
            source,
        };
        file.validate().map_err(format_err)?;
        let shapes = infer_shapes(&file.graph, &file.header.input_shape).map_err(format_err)?;
        let dims = |s: &Vec<u32>| s.iter().map(|&d| d as usize).collect::<Vec<usize>>();
        let input_shape = dims(&shapes[0]);
        let output_shapes = file
            .graph
            .outputs
            .iter()
            .map(|&o| dims(&shapes[o as usize]))
            .collect();
        let build_err =
            |node: Option<usize>, e: tract_core::prelude::TractError| RuntimeError::Build {
                path: path.map(Path::to_path_buf),
                node: node.map(|i| (i, file.graph.nodes[i].name.clone())),
                message: format!("{e:#}"),
            };
        let lowered =
            lower::lower(file, shapes, exact_f32).map_err(|e| build_err(e.node, e.error))?;
        let plan = optimize(lowered.model).map_err(|e| build_err(None, e))?;
        Ok(Model {
            header: file.header.clone(),
            plan,
            input_len: input_shape.iter().product(),
            input_shape,
            output_shapes,
            int8_layers: lowered.int8_layers,
            int8_kernels: lowered.int8_kernels,
        })
    }

    /// The model's header (kind, labels, preprocessing, temperature, ...).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Checks the model's kind.
    pub fn expect_kind(&self, kind: ModelKind) -> Result<(), FormatError> {
        if self.header.kind == kind {
            Ok(())
        } else {
            Err(FormatError::WrongKind {
                expected: kind,
                found: self.header.kind,
            })
        }
    }

    /// Fixed input shape (batch first).
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// Number of input values [`Model::run`] expects.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Shape of every output, in output order.
    pub fn output_shapes(&self) -> &[Vec<usize>] {
        &self.output_shapes
    }

    /// Number of int8 layers.
    pub fn int8_layers(&self) -> usize {
        self.int8_layers
    }

    /// Number of int8 layers running on tract's quantised kernels; the
    /// others are grouped (depthwise) convs whose integer accumulator
    /// tract's f32 depthwise kernel computes exactly and faster.
    pub fn int8_kernel_layers(&self) -> usize {
        self.int8_kernels
    }

    /// Runs the model and returns its first output (the logits of a
    /// classifier), flattened.
    pub fn run(&self, input: &[f32]) -> Result<Vec<f32>, RuntimeError> {
        let mut all = self.run_all(input)?;
        Ok(all.swap_remove(0))
    }

    /// Runs the model and returns every output, flattened, in output order
    /// (shapes in [`Model::output_shapes`]).
    pub fn run_all(&self, input: &[f32]) -> Result<Vec<Vec<f32>>, RuntimeError> {
        check_input(self.input_len, input).map_err(|e| match e {
            RefError::InputLength { expected, found } => RuntimeError::InputLength {
                expected,
                found,
                shape: self.input_shape.clone(),
            },
            RefError::NonFiniteInput { index } => RuntimeError::NonFiniteInput { index },
            RefError::InvalidModel(e) => RuntimeError::Inference {
                message: e.to_string(),
            },
        })?;
        let inference = |e: tract_core::prelude::TractError| RuntimeError::Inference {
            message: format!("{e:#}"),
        };
        let x = Tensor::from_shape(&self.input_shape, input).map_err(inference)?;
        let outputs = self.plan.run(tvec![x.into_tvalue()]).map_err(inference)?;
        outputs
            .iter()
            .map(|t| Ok(t.try_as_plain_ram()?.as_slice::<f32>()?.to_vec()))
            .collect::<Result<_, _>>()
            .map_err(inference)
    }
}

fn optimize(model: TypedModel) -> tract_core::prelude::TractResult<Arc<TypedSimplePlan>> {
    let mut model = model.into_optimized()?;
    patches::replace_im2col(&mut model)?;
    model.into_runnable()
}

#[cfg(test)]
mod tests;
