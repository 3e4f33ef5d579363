//! Test-time ensembling inside one model file: several f32 models (face or
//! voice) of the same input and preprocessing, optionally each also run on
//! the horizontally mirrored face, with their logits summed. The device runs
//! the result like any other model (one file, one inference call).
//!
//! The mirror is a 1x`W` convolution with `W` output channels (output
//! channel `x'` picks input column `W-1-x'`) followed by a transpose back
//! to `[1, 1, H, W]`: exact in f32 and in int8 (weights 0 and 1), and about
//! `W²·H` multiply-accumulates.

use emoedge_shared::format::{self, Activation, Bias, Conv2d, Graph, ModelFile, Node, Op, ValueId};

/// Why models could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum EnsembleError {
    /// Nothing to merge.
    #[error("no model given; pass --model at least once")]
    Empty,
    /// The models disagree on what they read or output.
    #[error("{0} does not match the first model ({1}); ensembled models must share kind, input shape, labels and preprocessing")]
    Mismatch(String, &'static str),
    /// A model is already int8.
    #[error("{0} is int8; merge the f32 models (<stem>.f32.emo) and quantise the result")]
    Quantized(String),
    /// The input is not `[1, 1, H, W]`.
    #[error("mirroring needs a [1, 1, H, W] input, got {0:?}")]
    Shape(Vec<u32>),
    /// The merged model is invalid.
    #[error("the merged model is invalid: {0}")]
    Format(#[from] format::FormatError),
}

/// Appends `g`'s nodes to `out`, reading `input` where `g` reads the model
/// input, with names prefixed; returns `g`'s output values.
fn append(out: &mut Graph, g: &Graph, input: ValueId, prefix: &str) -> Vec<ValueId> {
    let base = out.nodes.len() as ValueId;
    let map = |v: ValueId| if v == 0 { input } else { base + v };
    for n in &g.nodes {
        out.nodes.push(Node {
            name: format!("{prefix}{}", n.name),
            op: n.op.clone(),
            inputs: n.inputs.iter().map(|&v| map(v)).collect(),
            output_quant: n.output_quant,
        });
    }
    g.outputs.iter().map(|&v| map(v)).collect()
}

/// Adds the mirror of value `x` (`[1, 1, h, w]`) to `g`.
fn mirror(g: &mut Graph, x: ValueId, w: u32) -> ValueId {
    let n = w as usize;
    let mut weight = vec![0f32; n * n];
    for o in 0..n {
        weight[o * n + (n - 1 - o)] = 1.0;
    }
    let conv = Op::Conv2d(Conv2d {
        weight: format::Tensor::f32(vec![w, 1, 1, w], weight),
        bias: Some(Bias::F32(vec![0.0; n])),
        stride: [1, 1],
        dilation: [1, 1],
        padding: [0; 4],
        groups: 1,
        activation: Activation::None,
        input_quant: None,
    });
    let cols = g.push("mirror.select", conv, vec![x]);
    g.push(
        "mirror.transpose",
        Op::Transpose {
            perm: vec![0, 3, 2, 1],
        },
        vec![cols],
    )
}

/// One model whose output is the sum of the logits of `models` (each also
/// on the mirrored input when `flip`). Header from the first model, with
/// the temperature multiplied by the number of summed outputs so the
/// softmax of the sum stays that of the mean.
pub fn ensemble(models: &[(String, ModelFile)], flip: bool) -> Result<ModelFile, EnsembleError> {
    let (_, first) = models.first().ok_or(EnsembleError::Empty)?;
    let h = &first.header;
    for (name, m) in models {
        let o = &m.header;
        if o.kind != h.kind {
            return Err(EnsembleError::Mismatch(name.clone(), "kind"));
        }
        if o.input_shape != h.input_shape {
            return Err(EnsembleError::Mismatch(name.clone(), "input shape"));
        }
        if o.labels != h.labels {
            return Err(EnsembleError::Mismatch(name.clone(), "labels"));
        }
        if o.preprocessing != h.preprocessing {
            return Err(EnsembleError::Mismatch(name.clone(), "preprocessing"));
        }
        if m.graph.nodes.iter().any(|n| n.op.is_int8()) {
            return Err(EnsembleError::Quantized(name.clone()));
        }
    }
    let mut g = Graph::default();
    let mut inputs: Vec<(ValueId, &str)> = vec![(0, "")];
    if flip {
        let [1, 1, _, w] = h.input_shape[..] else {
            return Err(EnsembleError::Shape(h.input_shape.clone()));
        };
        inputs.push((mirror(&mut g, 0, w), "flip."));
    }
    let mut outs = Vec::new();
    for (i, (_, m)) in models.iter().enumerate() {
        for &(input, tag) in &inputs {
            let o = append(&mut g, &m.graph, input, &format!("m{}.{tag}", i + 1));
            outs.push(o[0]);
        }
    }
    let mut sum = outs[0];
    for (k, &o) in outs.iter().enumerate().skip(1) {
        sum = g.push(format!("sum{k}"), Op::Add, vec![sum, o]);
    }
    g.outputs = vec![sum];
    let mut header = h.clone();
    header.temperature = h.temperature * outs.len() as f32;
    header.name = format!(
        "{}-ensemble{}x{}",
        h.name,
        models.len(),
        if flip { 2 } else { 1 }
    );
    header.metadata.push((
        "ensemble".into(),
        format!(
            "sum of the logits of {} model(s){}: {}",
            models.len(),
            if flip {
                " on the face and its mirror"
            } else {
                ""
            },
            models
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ));
    let file = ModelFile { header, graph: g };
    file.validate()?;
    Ok(file)
}
