//! Conversion of raw V4L2 buffers to packed 8-bit luma. Pure functions, so
//! they are tested on every machine, camera or not.

use thiserror::Error;

/// Why a raw buffer could not be converted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConvertError {
    /// The buffer is shorter than the negotiated format needs.
    #[error("buffer holds {actual} bytes but a {width}x{height} frame with stride {stride} needs {needed}")]
    Short {
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// Bytes per row.
        stride: usize,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        actual: usize,
    },
    /// The MJPEG data does not decode.
    #[error("MJPEG frame does not decode: {0}")]
    Jpeg(String),
    /// A dimension is zero or the stride is smaller than a row.
    #[error("invalid frame geometry {width}x{height} with stride {stride}")]
    Geometry {
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// Bytes per row.
        stride: usize,
    },
}

fn check(
    src: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    row_bytes: usize,
) -> Result<(), ConvertError> {
    if width == 0 || height == 0 || stride < row_bytes {
        return Err(ConvertError::Geometry {
            width,
            height,
            stride,
        });
    }
    let needed = (height as usize - 1) * stride + row_bytes;
    if src.len() < needed {
        return Err(ConvertError::Short {
            width,
            height,
            stride,
            needed,
            actual: src.len(),
        });
    }
    Ok(())
}

/// Copies a GREY buffer with rows `stride` bytes apart into `out`
/// (resized to `width * height`).
pub fn grey_to_gray(
    src: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    out: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    let w = width as usize;
    check(src, width, height, stride, w)?;
    out.clear();
    for row in src.chunks(stride).take(height as usize) {
        out.extend_from_slice(&row[..w]);
    }
    Ok(())
}

/// Extracts the Y plane of a packed YUYV (Y0 U Y1 V) buffer into `out`.
pub fn yuyv_to_gray(
    src: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    out: &mut Vec<u8>,
) -> Result<(), ConvertError> {
    let w = width as usize;
    check(src, width, height, stride, 2 * w)?;
    out.clear();
    for row in src.chunks(stride).take(height as usize) {
        out.extend(row[..2 * w].iter().step_by(2));
    }
    Ok(())
}

/// Decodes one MJPEG frame to luma in `out`; returns its size.
///
/// Many UVC webcams leave out the Huffman tables (DHT) from their MJPEG
/// frames and rely on the standard ones (as in AVI MJPEG). Such a frame is
/// retried with an `AVI1` marker, which tells the decoder to use the
/// standard tables.
pub fn mjpeg_to_gray(src: &[u8], out: &mut Vec<u8>) -> Result<(u32, u32), ConvertError> {
    let decode = |bytes: &[u8]| {
        image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
            .map_err(|e| ConvertError::Jpeg(e.to_string()))
    };
    let img = match decode(src) {
        Ok(img) => img,
        Err(first) => {
            if src.len() < 4 || src[..2] != [0xFF, 0xD8] || has_dht(src) {
                return Err(first);
            }
            let mut patched = Vec::with_capacity(src.len() + AVI1_APP0.len());
            patched.extend_from_slice(&src[..2]);
            patched.extend_from_slice(&AVI1_APP0);
            patched.extend_from_slice(&src[2..]);
            decode(&patched)?
        }
    };
    // The same BT.601 conversion as training images get.
    let gray = emoedge_shared::io::gray_from_image(img);
    let (w, h) = (gray.width, gray.height);
    if w == 0 || h == 0 {
        return Err(ConvertError::Geometry {
            width: w,
            height: h,
            stride: w as usize,
        });
    }
    out.clear();
    out.extend_from_slice(&gray.pixels);
    Ok((w, h))
}

/// An APP0 segment reading `AVI1`: marks the stream as AVI MJPEG.
const AVI1_APP0: [u8; 9] = [0xFF, 0xE0, 0x00, 0x07, b'A', b'V', b'I', b'1', 0x00];

/// Whether a DHT (define Huffman table) segment appears before the scan.
fn has_dht(jpeg: &[u8]) -> bool {
    let mut i = 2;
    while i + 4 <= jpeg.len() {
        if jpeg[i] != 0xFF {
            return false;
        }
        let marker = jpeg[i + 1];
        match marker {
            0xC4 => return true,
            0xDA | 0xD9 => return false, // start of scan / end of image
            0xFF => {
                i += 1;
                continue;
            }
            0xD0..=0xD7 | 0x01 => {
                i += 2;
                continue;
            }
            _ => {}
        }
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        i += 2 + len;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grey_with_padding_is_packed() {
        // 3x2 frame, stride 4 (one padding byte per row).
        let src = [1, 2, 3, 99, 4, 5, 6];
        let mut out = vec![42; 100];
        grey_to_gray(&src, 3, 2, 4, &mut out).unwrap();
        assert_eq!(out, vec![1, 2, 3, 4, 5, 6]);
        assert!(matches!(
            grey_to_gray(&src[..6], 3, 2, 4, &mut out),
            Err(ConvertError::Short {
                needed: 7,
                actual: 6,
                ..
            })
        ));
        assert!(matches!(
            grey_to_gray(&src, 3, 2, 2, &mut out),
            Err(ConvertError::Geometry { .. })
        ));
    }

    #[test]
    fn yuyv_keeps_luma_bytes() {
        // 2x2 frame: Y0 U Y1 V per pixel pair, stride 4.
        let src = [10, 128, 20, 128, 30, 0, 40, 255];
        let mut out = Vec::new();
        yuyv_to_gray(&src, 2, 2, 4, &mut out).unwrap();
        assert_eq!(out, vec![10, 20, 30, 40]);
        assert!(yuyv_to_gray(&src[..7], 2, 2, 4, &mut out).is_err());
    }

    fn test_jpeg() -> (image::GrayImage, Vec<u8>) {
        let img = image::GrayImage::from_fn(32, 16, |x, y| image::Luma([(x * 6 + y * 4) as u8]));
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95)
            .encode_image(&img)
            .unwrap();
        (img, bytes)
    }

    fn assert_close(a: &[u8], b: &[u8]) {
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(b) {
            assert!((*x as i32 - *y as i32).abs() <= 6, "{x} vs {y}");
        }
    }

    #[test]
    fn mjpeg_frame_decodes() {
        let (img, bytes) = test_jpeg();
        let mut out = Vec::new();
        assert_eq!(mjpeg_to_gray(&bytes, &mut out).unwrap(), (32, 16));
        assert_close(&out, img.as_raw());
        assert!(has_dht(&bytes));
    }

    /// Removes every DHT segment, as UVC cameras do.
    fn strip_dht(jpeg: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        let mut i = 2;
        loop {
            let marker = jpeg[i + 1];
            if marker == 0xDA {
                out.extend_from_slice(&jpeg[i..]);
                return out;
            }
            let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
            if marker != 0xC4 {
                out.extend_from_slice(&jpeg[i..i + 2 + len]);
            }
            i += 2 + len;
        }
    }

    #[test]
    fn mjpeg_without_huffman_tables_uses_the_standard_ones() {
        let (img, bytes) = test_jpeg();
        let stripped = strip_dht(&bytes);
        assert!(!has_dht(&stripped));
        assert!(
            image::load_from_memory_with_format(&stripped, image::ImageFormat::Jpeg).is_err(),
            "the plain decoder must need the tables for this test to mean anything"
        );
        let mut out = Vec::new();
        assert_eq!(mjpeg_to_gray(&stripped, &mut out).unwrap(), (32, 16));
        assert_close(&out, img.as_raw());
    }

    #[test]
    fn garbage_is_a_jpeg_error() {
        let mut out = Vec::new();
        assert!(matches!(
            mjpeg_to_gray(&[0xFF, 0xD8, 0xFF, 0xDB, 0, 3, 1, 2, 3], &mut out),
            Err(ConvertError::Jpeg(_))
        ));
        assert!(matches!(
            mjpeg_to_gray(b"not a jpeg", &mut out),
            Err(ConvertError::Jpeg(_))
        ));
    }
}
