//! The CNN of both models (face: a 48x48 grayscale crop; voice: a
//! 200-frame x 64-band log-mel window): VGG/ResNet-style stages of 3x3 conv,
//! BatchNorm and ReLU, 2x2 max-pool between stages, global average pool,
//! dropout and a dense head. Every part maps onto an emoedge model-format op (BatchNorm
//! folds into the conv at export, dropout disappears).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::PaddingConfig2d;
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::data::FACE_SIZE;
use crate::train::qat::QatGrids;
use emoedge_shared::NUM_CLASSES;

/// Architecture of a [`FaceNet`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceNetConfig {
    /// Output channels of each stage; a 2x2 max-pool follows every stage
    /// but the last.
    pub widths: Vec<usize>,
    /// 3x3 convolutions per stage (>= 1): one entry conv that changes the
    /// width, then `convs_per_stage - 1` more at the same width.
    pub convs_per_stage: usize,
    /// Give every conv after a stage's entry conv an identity skip
    /// (`relu(bn(conv(x)) + x)`).
    pub residual: bool,
    /// Width of a hidden dense layer before the classifier (0 = none).
    pub hidden: usize,
    /// Dropout probability before each dense layer.
    pub dropout: f64,
    /// Flatten the last feature map (keeping where features are, e.g. mouth
    /// vs eyes) instead of global average pooling it.
    #[serde(default)]
    pub flatten_head: bool,
    /// Input height and width (face: 48x48; voice: frames x mel bands).
    #[serde(default = "face_input")]
    pub input_hw: [usize; 2],
    /// Width of a stride-2 3x3 conv (+BN+ReLU) before the stages, which
    /// then run at half the input's height and width (0 = none). tract's
    /// int8 convolution time grows with the area of its input, so a stem
    /// buys wider stages at the same latency.
    #[serde(default)]
    pub stem: usize,
}

fn face_input() -> [usize; 2] {
    [FACE_SIZE, FACE_SIZE]
}

impl FaceNetConfig {
    /// Named face architectures: `tiny` (tests), `vgg16`, `vgg20`, `vgg24`,
    /// `res16`, `res20`, `res24`, `vgg16h` (with a 128-unit hidden layer),
    /// `vgg16f` (flattened 6x6 map into a 256-unit hidden layer), `s2w32`
    /// (a 32-wide stride-2 stem, then stages of 32-64-128-256 at 24x24 and
    /// below: 4x the parameters of `vgg16` at a little less latency); for voice
    /// windows see [`FaceNetConfig::voice_preset`].
    pub fn preset(name: &str) -> Option<FaceNetConfig> {
        let cfg = |widths: &[usize], convs: usize, residual: bool, hidden: usize| FaceNetConfig {
            widths: widths.to_vec(),
            convs_per_stage: convs,
            residual,
            hidden,
            dropout: 0.3,
            flatten_head: false,
            input_hw: face_input(),
            stem: 0,
        };
        Some(match name {
            "tiny" => FaceNetConfig {
                dropout: 0.1,
                ..cfg(&[8, 16, 16], 1, false, 0)
            },
            "vgg16" => cfg(&[16, 32, 64, 128], 2, false, 0),
            "vgg20" => cfg(&[20, 40, 80, 160], 2, false, 0),
            "vgg24" => cfg(&[24, 48, 96, 192], 2, false, 0),
            "vgg16h" => cfg(&[16, 32, 64, 128], 2, false, 128),
            "res16" => cfg(&[16, 32, 64, 128], 3, true, 0),
            "res20" => cfg(&[20, 40, 80, 160], 3, true, 0),
            "res24" => cfg(&[24, 48, 96, 192], 3, true, 0),
            "s2w32" => FaceNetConfig {
                stem: 32,
                ..cfg(&[32, 64, 128, 256], 2, false, 0)
            },
            "vgg16f" => FaceNetConfig {
                dropout: 0.4,
                flatten_head: true,
                ..cfg(&[16, 32, 64, 128], 2, false, 256)
            },
            _ => return None,
        })
    }

    /// Named voice architectures for `frames x n_mels` log-mel windows:
    /// `tiny` (tests), `v16` (one conv per stage, widths 16-128, 5 stages),
    /// `v24` (widths 24-192), `v16x2` (two convs per stage).
    pub fn voice_preset(name: &str, frames: usize, n_mels: usize) -> Option<FaceNetConfig> {
        let cfg = |widths: &[usize], convs: usize, dropout: f64| FaceNetConfig {
            widths: widths.to_vec(),
            convs_per_stage: convs,
            residual: false,
            hidden: 0,
            dropout,
            flatten_head: false,
            input_hw: [frames, n_mels],
            stem: 0,
        };
        Some(match name {
            "tiny" => cfg(&[8, 16, 16], 1, 0.1),
            "v16" => cfg(&[16, 32, 64, 128, 128], 1, 0.3),
            "v24" => cfg(&[24, 48, 96, 192, 192], 1, 0.3),
            "v16x2" => cfg(&[16, 32, 64, 128], 2, 0.3),
            _ => return None,
        })
    }

    /// Names accepted by [`FaceNetConfig::voice_preset`].
    pub const VOICE_PRESETS: &'static [&'static str] = &["tiny", "v16", "v24", "v16x2"];

    /// Names accepted by [`FaceNetConfig::preset`].
    pub const PRESETS: &'static [&'static str] = &[
        "tiny", "vgg16", "vgg20", "vgg24", "vgg16h", "vgg16f", "res16", "res20", "res24", "s2w32",
    ];

    /// Checks that the configuration describes a buildable network.
    pub fn validate(&self) -> Result<(), String> {
        if self.widths.is_empty() || self.widths.contains(&0) {
            return Err("widths must be a non-empty list of positive channel counts".into());
        }
        if self.convs_per_stage == 0 {
            return Err("convs_per_stage must be at least 1".into());
        }
        let [h, w] = self.stage_hw();
        if (h.min(w)) >> (self.widths.len() - 1) == 0 {
            return Err(format!(
                "{} stages pool a {h}x{w} input to nothing",
                self.widths.len()
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err("dropout must be in 0..1".into());
        }
        Ok(())
    }

    /// Height and width of the first stage's input (halved by a stem).
    pub fn stage_hw(&self) -> [usize; 2] {
        if self.stem > 0 {
            self.input_hw.map(|v| v.div_ceil(2))
        } else {
            self.input_hw
        }
    }

    /// Multiply-accumulates of one forward pass (convs and dense layers).
    pub fn macs(&self) -> u64 {
        let [mut h, mut wd] = self.stage_hw().map(|v| v as u64);
        let mut c_in = 1u64;
        let mut total = 0u64;
        if self.stem > 0 {
            c_in = self.stem as u64;
            total += h * wd * 9 * c_in;
        }
        for (s, &w) in self.widths.iter().enumerate() {
            let w = w as u64;
            let px = h * wd;
            total += px * 9 * c_in * w;
            total += px * 9 * w * w * (self.convs_per_stage as u64 - 1);
            c_in = w;
            if s + 1 < self.widths.len() {
                h /= 2;
                wd /= 2;
            }
        }
        let mut feat = self.head_features() as u64;
        if self.hidden > 0 {
            total += feat * self.hidden as u64;
            feat = self.hidden as u64;
        }
        total + feat * NUM_CLASSES as u64
    }

    /// Height and width of the last feature map.
    pub fn last_hw(&self) -> [usize; 2] {
        self.stage_hw().map(|v| v >> (self.widths.len().max(1) - 1))
    }

    /// Features entering the dense layers.
    pub fn head_features(&self) -> usize {
        let c = self.widths.last().copied().unwrap_or(0);
        if self.flatten_head {
            let [h, w] = self.last_hw();
            c * h * w
        } else {
            c
        }
    }

    /// Builds a freshly initialised network on `device`.
    pub fn init(&self, device: &Device) -> FaceNet {
        let mut stages = Vec::new();
        let stem = (self.stem > 0).then(|| ConvBn::with_stride(1, self.stem, 2, device));
        let mut c_in = if self.stem > 0 { self.stem } else { 1 };
        for &w in &self.widths {
            let convs = (0..self.convs_per_stage)
                .map(|i| ConvBn::new(if i == 0 { c_in } else { w }, w, device))
                .collect();
            stages.push(Stage { convs });
            c_in = w;
        }
        let (hidden, feat) = if self.hidden > 0 {
            (
                Some(LinearConfig::new(self.head_features(), self.hidden).init(device)),
                self.hidden,
            )
        } else {
            (None, self.head_features())
        };
        FaceNet {
            stem,
            stages,
            hidden,
            head: LinearConfig::new(feat, NUM_CLASSES).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
            pool: MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
            residual: self.residual,
            flatten_head: self.flatten_head,
            int8_grids: None,
        }
    }
}

/// 3x3 convolution (no bias, same padding) followed by BatchNorm.
#[derive(Module, Debug)]
pub struct ConvBn {
    /// The convolution (`[out, in, 3, 3]`, no bias).
    pub conv: Conv2d,
    /// Its BatchNorm.
    pub bn: BatchNorm,
}

impl ConvBn {
    fn new(c_in: usize, c_out: usize, device: &Device) -> Self {
        Self::with_stride(c_in, c_out, 1, device)
    }

    fn with_stride(c_in: usize, c_out: usize, stride: usize, device: &Device) -> Self {
        ConvBn {
            conv: Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(c_out).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(x))
    }
}

/// One stage: an entry conv then same-width convs.
#[derive(Module, Debug)]
pub struct Stage {
    /// The stage's conv+BN layers in order.
    pub convs: Vec<ConvBn>,
}

/// The face expression network.
#[derive(Module, Debug)]
pub struct FaceNet {
    /// Optional stride-2 stem conv before the stages.
    pub stem: Option<ConvBn>,
    /// Convolution stages.
    pub stages: Vec<Stage>,
    /// Optional hidden dense layer.
    pub hidden: Option<Linear>,
    /// Classifier (7 logits).
    pub head: Linear,
    /// Dropout before each dense layer (training only).
    pub dropout: Dropout,
    /// 2x2 max-pool between stages.
    pub pool: MaxPool2d,
    /// Identity skips over the non-entry convs.
    #[module(skip)]
    pub residual: bool,
    /// Flatten instead of global average pooling before the dense layers.
    #[module(skip)]
    pub flatten_head: bool,
    /// The int8 grids of quantisation-aware training: when set, `forward`
    /// simulates the int8 export ([`FaceNet::forward_int8`]).
    #[module(skip)]
    pub int8_grids: Option<QatGrids>,
}

/// How [`FaceNet::forward_with`] computes each layer: in f32
/// ([`FaceNet::forward`]) or as the int8 export would
/// ([`FaceNet::forward_int8`]).
pub trait LayerMath {
    /// A conv with its BatchNorm, followed by ReLU when `relu`.
    fn conv(&mut self, cb: &ConvBn, x: Tensor<4>, relu: bool) -> Tensor<4>;
    /// A dense layer, followed by ReLU when `relu`.
    fn dense(&mut self, l: &Linear, x: Tensor<2>, relu: bool) -> Tensor<2>;
}

/// The layers in f32, as trained.
struct F32Math;

impl LayerMath for F32Math {
    fn conv(&mut self, cb: &ConvBn, x: Tensor<4>, act: bool) -> Tensor<4> {
        let y = cb.forward(x);
        if act {
            relu(y)
        } else {
            y
        }
    }

    fn dense(&mut self, l: &Linear, x: Tensor<2>, act: bool) -> Tensor<2> {
        let y = l.forward(x);
        if act {
            relu(y)
        } else {
            y
        }
    }
}

impl FaceNet {
    /// Logits `[batch, 7]` for normalised inputs `[batch, 1, H, W]`
    /// (`FaceNetConfig::input_hw`).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        match &self.int8_grids {
            Some(grids) => self.forward_int8(x, grids),
            None => self.forward_with(x, &mut F32Math),
        }
    }

    /// The network's structure (stem, stages with their skips and pools,
    /// pooled or flattened head, dropout), each layer computed by `math`.
    pub fn forward_with(&self, x: Tensor<4>, math: &mut impl LayerMath) -> Tensor<2> {
        let mut x = match &self.stem {
            Some(stem) => math.conv(stem, x, true),
            None => x,
        };
        let n_stages = self.stages.len();
        for (s, stage) in self.stages.iter().enumerate() {
            for (i, cb) in stage.convs.iter().enumerate() {
                x = if self.residual && i > 0 {
                    relu(math.conv(cb, x.clone(), false) + x)
                } else {
                    math.conv(cb, x, true)
                };
            }
            if s + 1 < n_stages {
                x = self.pool.forward(x);
            }
        }
        let [b, c, h, w] = x.dims();
        let x = if self.flatten_head {
            x.reshape([b, c * h * w])
        } else {
            x.reshape([b, c, h * w]).mean_dim(2).reshape([b, c])
        };
        let x = match &self.hidden {
            Some(h) => math.dense(h, self.dropout.forward(x), true),
            None => x,
        };
        math.dense(&self.head, self.dropout.forward(x), false)
    }
}
