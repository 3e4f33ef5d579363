//! Checks of untrusted audio container metadata before symphonia parses it.
//!
//! symphonia 0.5 allocates a buffer of whatever size some metadata fields
//! declare before it reads them: a Vorbis comment or a FLAC picture field
//! (up to 4 GiB each) and a WAV `LIST/INFO` entry (up to 4 GiB, checked
//! against the RIFF header's length, not the file's). A file of a few
//! hundred bytes could so make it ask for gigabytes, which aborts the
//! process where memory is short (found by the `audio_frontend` fuzz
//! target). These checks refuse every such field that is longer than the
//! data left to hold it, so no allocation exceeds the input's size.
//!
//! They cover every place symphonia reads those fields from, over-
//! approximating where the layout is ambiguous: native FLAC metadata
//! blocks after any `fLaC` marker, Ogg packets (reassembled as symphonia
//! does: valid pages only, per stream) of Vorbis, Opus and FLAC streams,
//! and `LIST` chunks of form `INFO` anywhere in the file.
//!
//! Two WAV headers make symphonia panic (both found by the fuzz target): a
//! sample rate of 0 Hz (a time base of 1/0, in every build), and a
//! `WAVE_FORMAT_EXTENSIBLE` header whose channel count exceeds its channel
//! mask by 32 or more, or whose mask uses bit 31 when channels are missing
//! from it (a shift overflow in builds with overflow checks); refused too.
//! The WAV checks look at what follows the first `RIFF....WAVE` header.

use std::collections::BTreeMap;
use std::string::String;
use std::vec::Vec;

/// Refuses metadata declaring more bytes than the input holds; the error
/// says which field.
pub(crate) fn check_metadata(bytes: &[u8]) -> Result<(), String> {
    check_flac(bytes)?;
    check_ogg(bytes)?;
    if let Some(riff) = riff_start(bytes) {
        let wave = &bytes[riff..];
        check_riff_info(wave)?;
        check_wave_fmt(wave)?;
    }
    Ok(())
}

/// Where the first `RIFF....WAVE` header is: symphonia's probe finds a
/// WAV file by it, anywhere in the first bytes.
fn riff_start(bytes: &[u8]) -> Option<usize> {
    occurrences(bytes, b"RIFF").find(|&i| bytes.get(i + 8..i + 12) == Some(b"WAVE"))
}

/// Whether a WAV file declares a sample rate of 0 Hz in a `fmt ` chunk,
/// which makes symphonia panic (a time base of 1/0): the caller reports it
/// as a bad sample rate.
pub(crate) fn wave_zero_rate(bytes: &[u8]) -> bool {
    riff_start(bytes).is_some_and(|riff| {
        occurrences(&bytes[riff..], b"fmt ").any(|i| {
            let at = riff + i + 12;
            bytes.get(at..at + 4) == Some(&[0, 0, 0, 0])
        })
    })
}

fn occurrences<'a>(bytes: &'a [u8], pattern: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
    bytes
        .windows(pattern.len())
        .enumerate()
        .filter(move |(_, w)| *w == pattern)
        .map(|(i, _)| i)
}

/// A little reader over a metadata structure.
struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(data: &'a [u8]) -> Self {
        Fields { data, pos: 0 }
    }

    fn left(&self) -> usize {
        self.data.len() - self.pos
    }

    fn u32_le(&mut self) -> Option<u32> {
        let b = self.data.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u32_be(&mut self) -> Option<u32> {
        self.u32_le().map(u32::swap_bytes)
    }

    /// A length field followed by that many bytes; `Err` when they are not
    /// all there, `Ok(None)` at the end of the data (the parser stops with
    /// an error of its own, before allocating).
    fn sized(&mut self, len: Option<u32>, what: &str) -> Result<Option<()>, String> {
        let Some(len) = len else { return Ok(None) };
        if len as usize > self.left() {
            return Err(std::format!(
                "its {what} declares {len} bytes but only {} follow",
                self.left()
            ));
        }
        self.pos += len as usize;
        Ok(Some(()))
    }
}

/// A Vorbis comment structure without framing (little-endian lengths), as
/// in FLAC `VORBIS_COMMENT` blocks, Ogg Vorbis and Opus comment headers.
fn check_comment(data: &[u8]) -> Result<(), String> {
    let mut f = Fields::new(data);
    let vendor = f.u32_le();
    if f.sized(vendor, "Vorbis comment vendor string")?.is_none() {
        return Ok(());
    }
    let Some(n) = f.u32_le() else { return Ok(()) };
    for _ in 0..n {
        let len = f.u32_le();
        if f.sized(len, "Vorbis comment")?.is_none() {
            break;
        }
    }
    Ok(())
}

/// A FLAC `PICTURE` block body (big-endian lengths).
fn check_picture(data: &[u8]) -> Result<(), String> {
    let mut f = Fields::new(data);
    let _picture_type = f.u32_be();
    let mime = f.u32_be();
    if f.sized(mime, "picture MIME type")?.is_none() {
        return Ok(());
    }
    let desc = f.u32_be();
    if f.sized(desc, "picture description")?.is_none() {
        return Ok(());
    }
    for _ in 0..4 {
        // Width, height, depth, colours.
        if f.u32_be().is_none() {
            return Ok(());
        }
    }
    let len = f.u32_be();
    f.sized(len, "picture data")?;
    Ok(())
}

/// A FLAC metadata block (header byte: last flag and type; 24-bit length)
/// given as its type and body.
fn check_flac_block(block_type: u8, body: &[u8]) -> Result<(), String> {
    match block_type {
        4 => check_comment(body),
        6 => check_picture(body),
        _ => Ok(()),
    }
}

/// Native FLAC: the metadata blocks after any `fLaC` marker.
fn check_flac(bytes: &[u8]) -> Result<(), String> {
    for start in occurrences(bytes, b"fLaC") {
        let mut pos = start + 4;
        while let Some(h) = bytes.get(pos..pos + 4) {
            let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            let body_start = pos + 4;
            let body_end = (body_start + len).min(bytes.len());
            check_flac_block(h[0] & 0x7F, &bytes[body_start..body_end])
                .map_err(|e| std::format!("FLAC metadata: {e}"))?;
            if h[0] & 0x80 != 0 {
                break;
            }
            pos = body_start + len;
        }
    }
    Ok(())
}

/// The Ogg page CRC (polynomial 0x04C11DB7, not reflected, initial 0).
fn ogg_crc(parts: &[&[u8]]) -> u32 {
    let mut crc = 0u32;
    for part in parts {
        for &b in *part {
            crc ^= u32::from(b) << 24;
            for _ in 0..8 {
                crc = if crc & 0x8000_0000 != 0 {
                    (crc << 1) ^ 0x04C1_1DB7
                } else {
                    crc << 1
                };
            }
        }
    }
    crc
}

/// What a logical Ogg stream carries, from its first packet.
#[derive(Default)]
struct Stream {
    flac: bool,
    partial: Vec<u8>,
    last_seq: Option<u32>,
}

/// symphonia's limit on a packet spanning pages.
const MAX_OGG_PACKET: usize = 16 << 20;

fn check_ogg_packet(
    stream: &mut Stream,
    packet: &[u8],
    first_of_stream: bool,
) -> Result<(), String> {
    if first_of_stream && packet.starts_with(b"\x7FFLAC") {
        stream.flac = true;
    }
    if let Some(rest) = packet.strip_prefix(b"\x03vorbis") {
        check_comment(rest).map_err(|e| std::format!("Ogg Vorbis comment header: {e}"))?;
    }
    if let Some(rest) = packet.strip_prefix(b"OpusTags") {
        check_comment(rest).map_err(|e| std::format!("Ogg Opus tags: {e}"))?;
    }
    if stream.flac {
        if let Some((&t, _)) = packet.split_first() {
            if !matches!(t, 0x00 | 0x80 | 0xFF) && packet.len() >= 4 {
                check_flac_block(t & 0x7F, &packet[4..])
                    .map_err(|e| std::format!("Ogg FLAC metadata: {e}"))?;
            }
        }
    }
    Ok(())
}

/// Ogg: pages read as symphonia reads them (capture pattern, valid CRC,
/// resynchronising just after a bad page's pattern), packets reassembled
/// per stream with its rules for gaps and continuations.
fn check_ogg(bytes: &[u8]) -> Result<(), String> {
    let Some(first) = occurrences(bytes, b"OggS").next() else {
        return Ok(());
    };
    let mut streams: BTreeMap<u32, Stream> = BTreeMap::new();
    let mut pos = first;
    while let Some(off) = bytes
        .get(pos..)
        .and_then(|b| occurrences(b, b"OggS").next())
    {
        let p = pos + off;
        let Some(header) = bytes.get(p..p + 27) else {
            break;
        };
        let n_segments = usize::from(header[26]);
        let Some(lacing) = bytes.get(p + 27..p + 27 + n_segments) else {
            break;
        };
        let body_len: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let body_start = p + 27 + n_segments;
        let Some(body) = bytes.get(body_start..body_start + body_len) else {
            break;
        };
        let mut zeroed = [0u8; 27];
        zeroed.copy_from_slice(header);
        zeroed[22..26].fill(0);
        let crc = u32::from_le_bytes([header[22], header[23], header[24], header[25]]);
        if ogg_crc(&[&zeroed, lacing, body]) != crc {
            pos = p + 4;
            continue;
        }
        pos = body_start + body_len;

        let flags = header[5];
        let (continued, first_page) = (flags & 1 != 0, flags & 2 != 0);
        let serial = u32::from_le_bytes([header[14], header[15], header[16], header[17]]);
        let seq = u32::from_le_bytes([header[18], header[19], header[20], header[21]]);
        let stream = streams.entry(serial).or_default();
        if first_page {
            *stream = Stream::default();
        }
        if let Some(last) = stream.last_seq {
            if seq < last || seq - last > 1 {
                stream.partial.clear();
            }
        }
        stream.last_seq = Some(seq);

        // Complete packets of the page (ending in a lacing value < 255),
        // then the unfinished one.
        let mut packets = Vec::new();
        let (mut start, mut len) = (0usize, 0usize);
        for &l in lacing {
            len += usize::from(l);
            if l < 255 {
                packets.push(&body[start..start + len]);
                start += len;
                len = 0;
            }
        }
        let unfinished = &body[start..];
        if !continued {
            stream.partial.clear();
        } else if stream.partial.is_empty() {
            if packets.is_empty() {
                continue;
            }
            packets.remove(0);
        }
        for (i, part) in packets.into_iter().enumerate() {
            let first_of_stream = first_page && i == 0;
            if stream.partial.is_empty() {
                check_ogg_packet(stream, part, first_of_stream)?;
            } else {
                let mut whole = std::mem::take(&mut stream.partial);
                whole.extend_from_slice(part);
                check_ogg_packet(stream, &whole, first_of_stream)?;
            }
        }
        if !unfinished.is_empty() {
            if stream.partial.len() + unfinished.len() > MAX_OGG_PACKET {
                stream.partial.clear();
            } else {
                stream.partial.extend_from_slice(unfinished);
            }
        }
    }
    Ok(())
}

/// WAV: the entries of `LIST` chunks of form `INFO`, wherever they are.
fn check_riff_info(bytes: &[u8]) -> Result<(), String> {
    for start in occurrences(bytes, b"LIST") {
        if bytes.get(start + 8..start + 12) != Some(b"INFO") {
            continue;
        }
        let mut pos = start + 12;
        while let Some(h) = bytes.get(pos..pos + 8) {
            let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
            let left = bytes.len() - (pos + 8);
            if len > left {
                return Err(std::format!(
                    "its INFO entry `{}` declares {len} bytes but only {left} follow",
                    String::from_utf8_lossy(&h[..4])
                ));
            }
            pos += 8 + len + (len & 1);
        }
    }
    Ok(())
}

/// WAV: `fmt ` chunks of `WAVE_FORMAT_EXTENSIBLE` whose channel count
/// symphonia cannot reconcile with the channel mask without overflowing.
fn check_wave_fmt(bytes: &[u8]) -> Result<(), String> {
    for start in occurrences(bytes, b"fmt ") {
        let Some(body) = bytes.get(start + 8..start + 8 + 24) else {
            continue;
        };
        if body[0..2] != [0xFE, 0xFF] {
            continue;
        }
        let channels = u32::from(u16::from_le_bytes([body[2], body[3]]));
        let mask = u32::from_le_bytes([body[20], body[21], body[22], body[23]]);
        let missing = channels.saturating_sub(mask.count_ones());
        if missing > 0 && (missing >= 32 || mask & 0x8000_0000 != 0) {
            return Err(std::format!(
                "its WAVE_FORMAT_EXTENSIBLE header declares {channels} channels for the channel mask {mask:#010x}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(vendor: &[u8], comments: &[&[u8]], lie: Option<u32>) -> Vec<u8> {
        let mut v = (vendor.len() as u32).to_le_bytes().to_vec();
        v.extend_from_slice(vendor);
        v.extend_from_slice(&(comments.len() as u32).to_le_bytes());
        for (i, c) in comments.iter().enumerate() {
            let len = if i == comments.len() - 1 {
                lie.unwrap_or(c.len() as u32)
            } else {
                c.len() as u32
            };
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(c);
        }
        v
    }

    fn flac_with_comment(c: &[u8]) -> Vec<u8> {
        let mut v = b"fLaC".to_vec();
        // STREAMINFO (34 bytes of zeros), then the comment, last.
        v.extend_from_slice(&[0x00, 0, 0, 34]);
        v.extend_from_slice(&[0; 34]);
        let len = c.len() as u32;
        v.extend_from_slice(&[0x84, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
        v.extend_from_slice(c);
        v
    }

    #[test]
    fn flac_comments_longer_than_the_file_are_refused() {
        let good = comment(b"ref", &[b"TITLE=a", b"ARTIST=b"], None);
        assert!(check_metadata(&flac_with_comment(&good)).is_ok());
        let bad = comment(b"ref", &[b"TITLE=a", b"ARTIST=b"], Some(0xE000_0000));
        let err = check_metadata(&flac_with_comment(&bad)).unwrap_err();
        assert!(
            err.contains("Vorbis comment declares 3758096384 bytes"),
            "{err}"
        );
        // A file cut inside a comment is refused (it is corrupt anyway); one
        // cut inside a block header just ends the walk.
        let cut = flac_with_comment(&good);
        assert!(check_metadata(&cut[..cut.len() - 5]).is_err());
        assert!(check_metadata(&cut[..4 + 4 + 34 + 2]).is_ok());
    }

    fn ogg_page(serial: u32, seq: u32, flags: u8, packets: &[&[u8]]) -> Vec<u8> {
        let mut lacing = Vec::new();
        let mut body = Vec::new();
        for p in packets {
            let mut n = p.len();
            while n >= 255 {
                lacing.push(255);
                n -= 255;
            }
            lacing.push(n as u8);
            body.extend_from_slice(p);
        }
        let mut h = b"OggS\0".to_vec();
        h.push(flags);
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&serial.to_le_bytes());
        h.extend_from_slice(&seq.to_le_bytes());
        h.extend_from_slice(&[0; 4]);
        h.push(lacing.len() as u8);
        let crc = ogg_crc(&[&h, &lacing, &body]);
        h[22..26].copy_from_slice(&crc.to_le_bytes());
        h.extend_from_slice(&lacing);
        h.extend_from_slice(&body);
        h
    }

    #[test]
    fn ogg_comment_headers_are_checked_on_valid_pages_only() {
        let ident = b"\x01vorbis-ident".as_slice();
        let mut header = b"\x03vorbis".to_vec();
        header.extend(comment(b"x", &[b"A=1"], Some(1 << 30)));
        let mut file = ogg_page(7, 0, 2, &[ident]);
        file.extend(ogg_page(7, 1, 0, &[&header]));
        let err = check_metadata(&file).unwrap_err();
        assert!(err.contains("Ogg Vorbis comment header"), "{err}");
        // The same page with a bad CRC is skipped, as symphonia skips it.
        let at = file.len() - 1;
        file[at] ^= 1;
        assert!(check_metadata(&file).is_ok());
        // A good header passes.
        let mut header = b"\x03vorbis".to_vec();
        header.extend(comment(b"x", &[b"A=1"], None));
        let mut file = ogg_page(7, 0, 2, &[ident]);
        file.extend(ogg_page(7, 1, 0, &[&header]));
        assert!(check_metadata(&file).is_ok());
    }

    #[test]
    fn extensible_wav_channel_counts_beyond_the_mask_are_refused() {
        let fmt = |channels: u16, mask: u32| {
            let mut v = b"RIFF\0\0\0\0WAVEfmt \x28\0\0\0\xfe\xff".to_vec();
            v.extend_from_slice(&channels.to_le_bytes());
            v.extend_from_slice(&[0; 16]);
            v.extend_from_slice(&mask.to_le_bytes());
            v.extend_from_slice(&[0; 16]);
            v
        };
        assert!(check_metadata(&fmt(2, 0b11)).is_ok());
        assert!(check_metadata(&fmt(8, 0)).is_ok());
        assert!(check_metadata(&fmt(1, 0xFFFF_FFFF)).is_ok());
        let err = check_metadata(&fmt(11008, 3)).unwrap_err();
        assert!(err.contains("11008 channels"), "{err}");
        assert!(check_metadata(&fmt(3, 0x8000_0001)).is_err());
    }

    #[test]
    fn a_zero_sample_rate_is_found_in_wav_files_only() {
        let mut v = b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        v.extend_from_slice(&0u32.to_le_bytes());
        v.extend_from_slice(&[0; 8]);
        assert!(wave_zero_rate(&v));
        v[24..28].copy_from_slice(&16_000u32.to_le_bytes());
        assert!(!wave_zero_rate(&v));
        // The same bytes without a RIFF/WAVE header are not a WAV file.
        assert!(!wave_zero_rate(b"....fmt \x10\0\0\0\x01\0\x01\0\0\0\0\0"));
    }

    #[test]
    fn riff_info_entries_longer_than_the_file_are_refused() {
        let mut v = b"RIFF\xff\xff\xff\xffWAVELIST\xf0\xff\xff\xffINFOINAM".to_vec();
        v.extend_from_slice(&0x7000_0000u32.to_le_bytes());
        v.extend_from_slice(b"name");
        let err = check_metadata(&v).unwrap_err();
        assert!(err.contains("INFO entry `INAM`"), "{err}");
        let mut v = b"RIFF\x20\0\0\0WAVELIST\x0c\0\0\0INFOINAM".to_vec();
        v.extend_from_slice(&4u32.to_le_bytes());
        v.extend_from_slice(b"name");
        assert!(check_metadata(&v).is_ok());
    }
}
