use super::sample::tiny_classifier;
use super::*;
use alloc::vec;

fn sample_bytes() -> (ModelFile, Vec<u8>) {
    let m = tiny_classifier(ModelKind::FaceClassifier, 7);
    let b = encode(&m).expect("sample encodes");
    (m, b)
}

/// Recomputes length and checksum after editing the payload, so tests
/// reach the validation behind the envelope.
fn reseal(mut bytes: Vec<u8>) -> Vec<u8> {
    let len = (bytes.len() - ENVELOPE_LEN) as u32;
    bytes[12..16].copy_from_slice(&len.to_le_bytes());
    let crc = CRC32.checksum(&bytes[ENVELOPE_LEN..]);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    bytes
}

fn reencode_unchecked(m: &ModelFile) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&[0; 10]);
    out.extend_from_slice(&postcard::to_allocvec(m).unwrap());
    reseal(out)
}

#[test]
fn round_trip() {
    let (m, b) = sample_bytes();
    assert_eq!(&b[..8], &MAGIC);
    let back = decode(&b).unwrap();
    assert_eq!(back, m);
    assert_eq!(encode(&back).unwrap(), b);
    for kind in [ModelKind::FaceClassifier, ModelKind::VoiceClassifier] {
        let m = tiny_classifier(kind, 3);
        assert_eq!(decode(&encode(&m).unwrap()).unwrap(), m);
    }
}

#[test]
fn every_truncation_is_rejected() {
    let (_, b) = sample_bytes();
    for n in 0..b.len() {
        let e = decode(&b[..n]).unwrap_err();
        assert!(
            matches!(e, FormatError::Truncated { .. } | FormatError::BadMagic),
            "length {n}: {e:?}"
        );
        if n >= 8 {
            assert!(
                matches!(e, FormatError::Truncated { .. }),
                "length {n}: {e:?}"
            );
        }
    }
}

#[test]
fn every_bit_flip_is_rejected() {
    let (_, b) = sample_bytes();
    // Every bit of the envelope and of the first bytes of the payload, then
    // one bit in every byte of the rest.
    for i in 0..b.len() {
        let bits: &[u8] = if i < ENVELOPE_LEN + 64 {
            &[0, 1, 2, 3, 4, 5, 6, 7]
        } else {
            &[(i % 8) as u8]
        };
        for &bit in bits {
            let mut c = b.clone();
            c[i] ^= 1 << bit;
            assert!(
                decode(&c).is_err(),
                "flip of bit {bit} in byte {i} accepted"
            );
        }
    }
}

#[test]
fn envelope_fields() {
    let (_, b) = sample_bytes();
    let mut c = b.clone();
    c[0] = b'P';
    assert_eq!(decode(&c), Err(FormatError::BadMagic));
    let mut c = b.clone();
    c[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert_eq!(
        decode(&c),
        Err(FormatError::UnsupportedVersion {
            found: FORMAT_VERSION + 1,
            supported: FORMAT_VERSION
        })
    );
    let mut c = b.clone();
    c[10] = 1;
    assert!(matches!(decode(&c), Err(FormatError::InvalidHeader { .. })));
    let mut c = b.clone();
    c[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(decode(&c), Err(FormatError::TooLarge { .. })));
    let mut c = b.clone();
    c[16] ^= 0xff;
    assert!(matches!(
        decode(&c),
        Err(FormatError::ChecksumMismatch { .. })
    ));
    let mut c = b.clone();
    c.push(0);
    assert!(matches!(
        decode(&c),
        Err(FormatError::TrailingBytes { extra: 1 })
    ));
    let mut c = b.clone();
    *c.last_mut().unwrap() ^= 0x55;
    assert!(matches!(
        decode(&c),
        Err(FormatError::ChecksumMismatch { .. })
    ));
    assert_eq!(decode(b"GIF89a"), Err(FormatError::BadMagic));
    assert!(matches!(
        decode(&MAGIC[..4]),
        Err(FormatError::Truncated { .. })
    ));
}

#[test]
fn payload_corruption_behind_a_valid_checksum_is_typed() {
    let (_, b) = sample_bytes();
    // Resealed payload with random edits must still fail cleanly (no panic).
    for i in ENVELOPE_LEN..b.len() {
        let mut c = b.clone();
        c[i] = c[i].wrapping_add(0x5b);
        let _ = decode(&reseal(c));
    }
    // Unknown op: the Op enum variant index of the first node set past the end.
    let (m, _) = sample_bytes();
    let mut bad = m.clone();
    bad.graph.nodes.truncate(0);
    bad.graph.outputs = vec![0];
    let prefix = postcard::to_allocvec(&bad.header).unwrap();
    let mut payload = prefix.clone();
    payload.extend_from_slice(&[1, 0]); // one node, empty name
    payload.push(99); // op variant 99
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&[0; 10]);
    bytes.extend_from_slice(&payload);
    assert_eq!(decode(&reseal(bytes)), Err(FormatError::UnknownOp));
}

#[test]
fn header_fields_are_validated() {
    let (m, _) = sample_bytes();
    let check = |f: &dyn Fn(&mut ModelFile)| {
        let mut c = m.clone();
        f(&mut c);
        assert!(encode(&c).is_err());
        decode(&reencode_unchecked(&c)).unwrap_err()
    };
    assert!(matches!(
        check(&|c| c.header.input_shape = vec![]),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|c| c.header.input_shape = vec![1, 1, 0, 48]),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|c| c.header.input_shape = vec![1, 3, 48, 48]),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|c| c.header.input_shape = vec![1, 1, 2, 2]),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|c| c.header.temperature = 0.0),
        FormatError::InvalidHeader { .. }
    ));
    assert!(matches!(
        check(&|c| c.header.temperature = f32::NAN),
        FormatError::InvalidHeader { .. }
    ));
    assert!(matches!(
        check(&|c| c.header.labels.pop().map(|_| ()).unwrap()),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|c| c.header.kind = ModelKind::VoiceClassifier),
        FormatError::InvalidHeader { .. }
    ));
}

#[test]
fn graph_fields_are_validated() {
    let (m, _) = sample_bytes();
    let check = |f: &dyn Fn(&mut Graph)| {
        let mut c = m.clone();
        f(&mut c.graph);
        decode(&reencode_unchecked(&c)).unwrap_err()
    };
    fn conv(g: &mut Graph) -> &mut Conv2d {
        match &mut g.nodes[0].op {
            Op::Conv2d(c) => c,
            _ => unreachable!(),
        }
    }
    assert!(matches!(
        check(&|g| {
            conv(g).weight.values = Weights::F32(vec![0.0; 3]);
        }),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|g| {
            conv(g).weight.shape[1] = 2;
        }),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|g| {
            conv(g).groups = 0;
        }),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|g| {
            conv(g).stride = [0, 1];
        }),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|g| {
            conv(g).bias = Some(Bias::F32(vec![0.0; 3]));
        }),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|g| {
            conv(g).bias = Some(Bias::I32(vec![0; 8]));
        }),
        FormatError::InvalidGraph { .. }
    ));
    assert!(matches!(
        check(&|g| {
            conv(g).weight.values = Weights::I8 {
                data: vec![0; 72],
                quant: QuantParams {
                    scale: 0.1,
                    zero_point: 0,
                },
            };
        }),
        FormatError::InvalidGraph { .. }
    ));
    assert!(matches!(
        check(&|g| {
            if let Weights::F32(v) = &mut conv(g).weight.values {
                v[0] = f32::INFINITY
            }
        }),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|g| g.nodes[1].inputs = vec![5]),
        FormatError::InvalidGraph { .. }
    ));
    assert!(matches!(
        check(&|g| g.nodes[3].inputs = vec![1]),
        FormatError::InvalidGraph { .. }
    ));
    assert!(matches!(
        check(&|g| g.nodes[3].inputs = vec![0, 1]),
        FormatError::InconsistentShapes { .. }
    ));
    assert!(matches!(
        check(&|g| g.outputs = vec![]),
        FormatError::InvalidGraph { .. }
    ));
    assert!(matches!(
        check(&|g| g.outputs = vec![99]),
        FormatError::InvalidGraph { .. }
    ));
    assert!(matches!(
        check(&|g| g.nodes[2].output_quant = Some(QuantParams {
            scale: -1.0,
            zero_point: 0
        })),
        FormatError::InvalidGraph { .. }
    ));
}

#[test]
fn quant_params() {
    let q = QuantParams::from_range(-1.0, 3.0);
    assert!(
        (q.dequantize(q.quantize(0.0))).abs() < 1e-6,
        "zero is exact"
    );
    for x in [-1.0f32, -0.3, 0.5, 2.9] {
        assert!((q.dequantize(q.quantize(x)) - x).abs() <= q.scale / 2.0 + 1e-6);
    }
    assert_eq!(q.quantize(100.0), 127);
    let s = QuantParams::symmetric(2.0);
    assert_eq!(s.zero_point, 0);
    assert_eq!(s.quantize(2.0), 127);
    assert_eq!(s.quantize(-2.0), -127);
}

#[test]
fn wrong_kind() {
    let (m, _) = sample_bytes();
    assert!(m.expect_kind(ModelKind::FaceClassifier).is_ok());
    let e = m.expect_kind(ModelKind::VoiceClassifier).unwrap_err();
    assert!(matches!(e, FormatError::WrongKind { .. }));
}

#[test]
fn detector_parameters_are_validated() {
    use crate::reference::tests::single_op;
    let m = single_op(Op::Relu, vec![1, 3, 8, 8]);
    let Preprocessing::Detector(d) = &m.header.preprocessing else {
        unreachable!()
    };
    assert_eq!(d.anchor_count(), Some(896));
    assert!(encode(&m).is_ok());
    let check = |f: &dyn Fn(&mut DetectorPreprocessing)| {
        let mut c = m.clone();
        let Preprocessing::Detector(d) = &mut c.header.preprocessing else {
            unreachable!()
        };
        f(d);
        assert_eq!(d.anchor_count(), None);
        assert!(encode(&c).is_err());
        decode(&reencode_unchecked(&c)).unwrap_err()
    };
    let cases: [&dyn Fn(&mut DetectorPreprocessing); 8] = [
        &|d| d.input_size = 0,
        &|d| d.std = 0.0,
        &|d| d.mean = f32::NAN,
        &|d| d.strides = vec![8],
        &|d| d.strides = vec![8, 0],
        &|d| d.strides = vec![8, 48],
        &|d| d.box_scale = f32::INFINITY,
        &|d| d.iou_threshold = 1.5,
    ];
    for f in cases {
        assert!(matches!(check(f), FormatError::InvalidHeader { .. }));
    }
}
