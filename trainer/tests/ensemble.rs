//! Ensembling face models into one file: the merged graph computes the sum
//! of the members' logits, on the face and on its mirror, through both the
//! reference interpreter and the tract runtime.

use emoedge_shared::format::sample::{pseudo_random, tiny_classifier};
use emoedge_shared::format::ModelKind;
use emoedge_shared::reference::run_reference_outputs;
use emoedge_shared::runtime::Model;
use emoedge_trainer::ensemble::{ensemble, EnsembleError};

fn mirrored(x: &[f32], h: usize, w: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for y in 0..h {
        for c in 0..w {
            out[y * w + c] = x[y * w + (w - 1 - c)];
        }
    }
    out
}

fn logits(m: &emoedge_shared::format::ModelFile, x: &[f32]) -> Vec<f32> {
    run_reference_outputs(m, x).unwrap().remove(0)
}

#[test]
fn ensemble_sums_members_on_face_and_mirror() {
    let a = tiny_classifier(ModelKind::FaceClassifier, 1);
    let b = tiny_classifier(ModelKind::FaceClassifier, 2);
    let shape = a.header.input_shape.clone();
    let (h, w) = (shape[2] as usize, shape[3] as usize);
    let x = pseudo_random(9, h * w, 1.0);
    let xf = mirrored(&x, h, w);
    let merged = ensemble(&[("a".into(), a.clone()), ("b".into(), b.clone())], true).unwrap();
    assert_eq!(merged.header.temperature, a.header.temperature * 4.0);
    let expected: Vec<f32> = (0..logits(&a, &x).len())
        .map(|i| logits(&a, &x)[i] + logits(&a, &xf)[i] + logits(&b, &x)[i] + logits(&b, &xf)[i])
        .collect();
    let got = logits(&merged, &x);
    let runtime = Model::from_model(&merged).unwrap().run(&x).unwrap();
    for ((e, g), r) in expected.iter().zip(&got).zip(&runtime) {
        assert!((e - g).abs() < 1e-4, "reference {g} vs expected {e}");
        assert!((e - r).abs() < 1e-3, "runtime {r} vs expected {e}");
    }
    // Without the mirror: a plain sum.
    let plain = ensemble(&[("a".into(), a.clone()), ("b".into(), b.clone())], false).unwrap();
    let got = logits(&plain, &x);
    for (i, g) in got.iter().enumerate() {
        assert!((logits(&a, &x)[i] + logits(&b, &x)[i] - g).abs() < 1e-4);
    }
}

#[test]
fn mismatched_or_quantised_members_are_refused() {
    let face = tiny_classifier(ModelKind::FaceClassifier, 1);
    let voice = tiny_classifier(ModelKind::VoiceClassifier, 1);
    let err = ensemble(&[("f".into(), face.clone()), ("v".into(), voice)], false).unwrap_err();
    assert!(
        matches!(err, EnsembleError::Mismatch(ref n, "kind") if n == "v"),
        "{err}"
    );
    assert!(matches!(ensemble(&[], false), Err(EnsembleError::Empty)));
}
