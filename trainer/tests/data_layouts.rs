//! Data layout parsing on generated folders and CSV files.

mod common;

use std::path::Path;

use emoedge_shared::Emotion;
use emoedge_trainer::data::{load_face_data, parse_fer_csv, Layout};
use rand::SeedableRng;

fn write_png(path: &Path, gray: &[u8], w: u32, h: u32) {
    image::GrayImage::from_raw(w, h, gray.to_vec())
        .expect("buffer size")
        .save(path)
        .expect("write png");
}

/// Writes `n` images per class into `dir/<name>/` using the given folder names.
fn write_tree(dir: &Path, names: &[&str], n: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for name in names {
        let class = Emotion::parse(name).expect("class name").index();
        let d = dir.join(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        for i in 0..n {
            write_png(
                &d.join(format!("img{i}.png")),
                &common::pattern(class, &mut rng),
                48,
                48,
            );
        }
    }
}

const CANONICAL: [&str; 7] = [
    "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise",
];

#[test]
fn kaggle_layout_with_synonyms_and_bad_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    // Synonyms and odd case in the training tree, canonical names in test/.
    write_tree(
        &root.join("train"),
        &[
            "Anger",
            "DISGUSTED",
            "fearful",
            "happiness",
            "Neutral",
            "sadness",
            "surprised",
        ],
        4,
        1,
    );
    write_tree(&root.join("test"), &CANONICAL, 2, 2);
    // Ignored: a non-class folder, a non-image file.
    std::fs::create_dir_all(root.join("train/contempt")).expect("mkdir");
    write_png(&root.join("train/contempt/x.png"), &[128; 48 * 48], 48, 48);
    std::fs::write(root.join("train/Anger/notes.txt"), "not an image").expect("write");
    // Counted: a corrupt jpeg, a blank image, a larger non-square image is fine.
    std::fs::write(root.join("train/Anger/broken.jpg"), b"\xff\xd8garbage").expect("write");
    write_png(&root.join("train/sadness/black.png"), &[0; 48 * 48], 48, 48);
    let big: Vec<u8> = (0..100 * 60).map(|i| (i % 251) as u8).collect();
    write_png(&root.join("train/happiness/big.png"), &big, 100, 60);

    let data = load_face_data(root, None, 1, 0.1).expect("kaggle layout loads");
    assert!(matches!(data.layout, Layout::Kaggle { .. }));
    assert_eq!(data.train.len(), 7 * 4 + 1);
    assert_eq!(data.val.len(), 7 * 2);
    let counts = data.train.class_counts();
    assert_eq!(counts[Emotion::Happy.index()], 5);
    assert_eq!(counts[Emotion::Angry.index()], 4);
    assert_eq!(data.skipped.len(), 2);
    let warning = data.skipped_warning().expect("a warning");
    assert!(warning.contains("skipped 2"), "{warning}");
    assert!(
        warning.contains("broken.jpg") && warning.contains("black.png"),
        "{warning}"
    );
    assert!(warning.contains("blank"), "{warning}");
    // Normalisation: (p/255 - 0.5) / 0.25 keeps values in [-2, 2].
    assert!(data.train.pixels.iter().all(|v| (-2.0..=2.0).contains(v)));
}

#[test]
fn class_tree_gets_stratified_seeded_split() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_tree(dir.path(), &CANONICAL, 10, 3);
    let a = load_face_data(dir.path(), None, 5, 0.2).expect("tree loads");
    assert_eq!(a.layout, Layout::ClassTree(dir.path().to_path_buf()));
    assert_eq!(a.val.class_counts(), [2; 7]);
    assert_eq!(a.train.class_counts(), [8; 7]);
    let b = load_face_data(dir.path(), None, 5, 0.2).expect("tree loads");
    assert_eq!(a.val.sources, b.val.sources, "same seed, same split");
    let c = load_face_data(dir.path(), None, 6, 0.2).expect("tree loads");
    assert_ne!(a.val.sources, c.val.sources, "another seed, another split");
    assert!(a.val_duplicates.is_empty());
}

#[test]
fn explicit_val_dir_and_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_tree(&dir.path().join("all"), &CANONICAL, 3, 4);
    write_tree(&dir.path().join("other"), &CANONICAL, 1, 4); // same seed: duplicates
    let data = load_face_data(
        &dir.path().join("all"),
        Some(&dir.path().join("other")),
        1,
        0.1,
    )
    .expect("loads");
    assert_eq!(data.val.len(), 7);
    assert_eq!(data.train.len(), 21);
    assert!(
        !data.val_duplicates.is_empty(),
        "identical images are found"
    );
}

fn csv_row(emotion: usize, pixels: &[u8], usage: &str) -> String {
    let px: Vec<String> = pixels.iter().map(|p| p.to_string()).collect();
    format!("{emotion},{},{usage}\n", px.join(" "))
}

#[test]
fn fer_csv_remaps_labels_and_splits_by_usage() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut text = String::from("emotion,pixels,Usage\n");
    // CSV order: 0 Angry,1 Disgust,2 Fear,3 Happy,4 Sad,5 Surprise,6 Neutral.
    for csv_label in 0..7 {
        text += &csv_row(csv_label, &common::pattern(csv_label, &mut rng), "Training");
    }
    text += &csv_row(4, &common::pattern(0, &mut rng), "PublicTest");
    text += &csv_row(6, &common::pattern(0, &mut rng), "PrivateTest");
    text += &csv_row(3, &[0; 48 * 48], "Training"); // blank
    text += "2,1 2 3,Training\n"; // not square
    let csv = parse_fer_csv(&text, "fer2013.csv").expect("csv parses");
    assert_eq!(csv.train.len(), 7);
    let expected = [0u8, 1, 2, 3, 5, 6, 4];
    assert_eq!(csv.train.labels, expected);
    assert_eq!(csv.val.labels, vec![Emotion::Sad.index() as u8]);
    assert_eq!(csv.private_test, 1);
    assert_eq!(csv.skipped.len(), 2);
    assert!(csv.skipped[0].source.ends_with(":11"), "{:?}", csv.skipped);

    // Through the directory loader too.
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("fer2013.csv"), &text).expect("write");
    let data = load_face_data(dir.path(), None, 1, 0.1).expect("csv dir loads");
    assert!(matches!(data.layout, Layout::Csv(_)));
    assert_eq!(data.skipped.len(), 2);
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dir = tempfile::tempdir().expect("temp dir");
    assert!(load_face_data(&dir.path().join("missing"), None, 1, 0.1).is_err());
    assert!(
        load_face_data(dir.path(), None, 1, 0.1).is_err(),
        "empty dir"
    );
    assert!(parse_fer_csv("", "x.csv").is_err());
    assert!(parse_fer_csv("a,b\n1,2\n", "x.csv").is_err());
    assert!(parse_fer_csv("emotion,pixels\n9,1 2 3 4\n", "x.csv").is_err());
}
