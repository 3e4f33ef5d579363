//! The files calibration writes: the temperature in a model file's header
//! and the fusion configuration (`models/fusion.toml`) the device loads.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use emoedge_shared::format;
use emoedge_shared::fusion::FusionConfig;

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, flushed to disk, then renamed over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} names no file", path.display()))?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// Sets the header temperature of the model file at `path`, keeping
/// everything else: the file is decoded with the shared format, only
/// `header.temperature` changes, and it is re-encoded and written
/// atomically. Returns the previous temperature.
pub fn set_model_temperature(path: &Path, temperature: f32) -> Result<f32> {
    if !temperature.is_finite() || temperature <= 0.0 {
        bail!(
            "temperature {temperature} for {} is not finite and positive",
            path.display()
        );
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut model = format::decode(&bytes)
        .with_context(|| format!("decoding model file {}", path.display()))?;
    let before = model.header.temperature;
    model.header.temperature = temperature;
    let out = format::encode(&model).with_context(|| format!("encoding {}", path.display()))?;
    // What is written decodes to the same model with the new temperature.
    let back = format::decode(&out).context("re-decoding the updated model")?;
    if back != model {
        bail!(
            "{} did not survive re-encoding; left unchanged",
            path.display()
        );
    }
    write_atomic(path, &out)?;
    Ok(before)
}

/// Reads a fusion configuration file (TOML; missing keys take the
/// defaults) and validates it.
pub fn read_fusion_config(path: &Path) -> Result<FusionConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg: FusionConfig = toml::from_str(&text)
        .with_context(|| format!("parsing fusion configuration {}", path.display()))?;
    cfg.validate()
        .map_err(|e| anyhow::anyhow!("fusion configuration {}: {e}", path.display()))?;
    Ok(cfg)
}

/// The TOML text of `cfg` with `comment` lines (each prefixed `# `) on top.
/// Every field of [`FusionConfig`] is written; numbers use the shortest
/// form that reads back to the same `f32`.
pub fn fusion_config_toml(cfg: &FusionConfig, comment: &[String]) -> String {
    let mut s = String::new();
    for line in comment {
        if line.is_empty() {
            s.push_str("#\n");
        } else {
            s.push_str(&format!("# {line}\n"));
        }
    }
    let FusionConfig {
        face_temperature,
        voice_temperature,
        face_weight,
        uncertain_threshold,
        smoothing_tau_ms,
        hysteresis_margin,
        min_dwell_ms,
        stale_after_ms,
    } = *cfg;
    let float = |v: f32| {
        let t = format!("{v}");
        if t.contains(['.', 'e', 'i', 'N']) {
            t
        } else {
            format!("{t}.0")
        }
    };
    s.push_str(&format!(
        "face_weight = {}\nuncertain_threshold = {}\n\
         # For reference: the device uses the temperatures in the model files' headers.\n\
         face_temperature = {}\nvoice_temperature = {}\n\
         # Not fitted here (the defaults of emoedge_shared::fusion::FusionConfig).\n\
         smoothing_tau_ms = {smoothing_tau_ms}\nhysteresis_margin = {}\n\
         min_dwell_ms = {min_dwell_ms}\nstale_after_ms = {stale_after_ms}\n",
        float(face_weight),
        float(uncertain_threshold),
        float(face_temperature),
        float(voice_temperature),
        float(hysteresis_margin),
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use emoedge_shared::format::sample::tiny_classifier;
    use emoedge_shared::format::ModelKind;

    #[test]
    fn fusion_toml_round_trips_and_defaults_fill_gaps() {
        let cfg = FusionConfig {
            face_temperature: 1.376_208_3,
            voice_temperature: 0.8,
            face_weight: 0.55,
            uncertain_threshold: 0.37,
            ..FusionConfig::default()
        };
        let text = fusion_config_toml(&cfg, &["written by a test".into(), String::new()]);
        assert!(text.starts_with("# written by a test\n#\n"), "{text}");
        assert!(text.contains("face_weight = 0.55\n"), "{text}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fusion.toml");
        write_atomic(&path, text.as_bytes()).unwrap();
        assert_eq!(read_fusion_config(&path).unwrap(), cfg);
        // Only some keys: the rest are the defaults.
        std::fs::write(&path, "face_weight = 0.3\n").unwrap();
        let c = read_fusion_config(&path).unwrap();
        assert_eq!(
            c,
            FusionConfig {
                face_weight: 0.3,
                ..FusionConfig::default()
            }
        );
        // Invalid values are refused with the field's name.
        std::fs::write(&path, "face_weight = 1.5\n").unwrap();
        let e = format!("{:#}", read_fusion_config(&path).unwrap_err());
        assert!(e.contains("face_weight"), "{e}");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn temperature_update_keeps_everything_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("face.emo");
        let model = tiny_classifier(ModelKind::FaceClassifier, 3);
        let original = format::encode(&model).unwrap();
        std::fs::write(&path, &original).unwrap();
        let before = set_model_temperature(&path, 1.75).unwrap();
        assert_eq!(before, model.header.temperature);
        let updated = format::decode(&std::fs::read(&path).unwrap()).unwrap();
        let mut want = model.clone();
        want.header.temperature = 1.75;
        assert_eq!(updated, want);
        // Setting it back gives the original bytes exactly.
        set_model_temperature(&path, before).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), original);
        assert!(set_model_temperature(&path, 0.0).is_err());
        assert!(set_model_temperature(&dir.path().join("missing.emo"), 1.0).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
