//! Fuzzes the model file decoder: no input may make it panic, and every
//! model it accepts must re-encode to bytes that decode to the same bytes
//! again.
//!
//! Each input is tried twice: as raw file bytes (exercises the envelope
//! checks), then with its 20-byte envelope repaired (magic, version, flags,
//! length and CRC-32 rewritten) so that mutations of the payload reach the
//! postcard decoder and the graph validation instead of stopping at the
//! checksum.
#![no_main]

use emoedge_shared::format::{self, ENVELOPE_LEN, FORMAT_VERSION, MAGIC};
use libfuzzer_sys::fuzz_target;

const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// The input with a valid envelope around whatever follows byte 20.
fn repair_envelope(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < ENVELOPE_LEN {
        return None;
    }
    let payload = &data[ENVELOPE_LEN..];
    let len = u32::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(data.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&CRC32.checksum(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// A decoded model must round-trip: encode accepts it (decode validated
/// it), and the encoding is stable. Bytes are compared, not models, so
/// NaN values in fields decode does not check compare equal.
fn check_round_trip(model: &format::ModelFile) {
    let bytes = format::encode(model).expect("a model that decoded must encode");
    let again = format::decode(&bytes).expect("an encoded model must decode");
    let bytes_again = format::encode(&again).expect("a re-decoded model must encode");
    assert_eq!(
        bytes, bytes_again,
        "encoding is not stable across a round trip"
    );
    let _ = again.parameter_count();
}

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = format::decode(data) {
        check_round_trip(&model);
    }
    if let Some(fixed) = repair_envelope(data) {
        if let Ok(model) = format::decode(&fixed) {
            check_round_trip(&model);
        }
    }
});
