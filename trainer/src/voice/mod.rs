//! The voice emotion model's data side: corpora naming ([`corpora`]), the
//! speaker-independent split ([`split`]), in-memory clips with on-the-fly
//! augmentation ([`data`], [`augment`]) and export ([`export`]). Training
//! runs through the same loop as the face model ([`crate::train`]).

pub mod augment;
pub mod corpora;
pub mod data;
pub mod export;
pub mod split;

pub use augment::VoiceAugmentConfig;
pub use corpora::{Corpus, VoiceFile};
pub use data::{load_voice_data, VoiceData, VoiceDataOptions};
pub use export::{export_voice_checkpoint, quantize_voice_file, VoiceExport};
pub use split::SplitConfig;
