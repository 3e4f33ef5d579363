//! Image file decoding to 8-bit grayscale, from a file or from bytes in
//! memory.

use std::io::{BufRead, Cursor, Seek};
use std::path::{Path, PathBuf};
use std::string::String;
use std::vec::Vec;

use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits};

use super::one_line;

/// Largest accepted image side, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Largest accepted pixel count (64 Mi pixels, 64 MiB of luma): a face
/// image or camera frame is far smaller, so anything bigger is refused
/// before decoding rather than exhausting memory.
pub const MAX_IMAGE_PIXELS: u64 = 1 << 26;

/// An owned 8-bit grayscale image, rows packed top to bottom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrayImage {
    /// Width in pixels (> 0).
    pub width: u32,
    /// Height in pixels (> 0).
    pub height: u32,
    /// `width * height` luma values, row-major, no padding.
    pub pixels: Vec<u8>,
}

impl GrayImage {
    /// Luma at `(x, y)`, `None` outside the image.
    pub fn get(&self, x: u32, y: u32) -> Option<u8> {
        if x < self.width && y < self.height {
            self.pixels
                .get(y as usize * self.width as usize + x as usize)
                .copied()
        } else {
            None
        }
    }
}

/// Why an image could not be loaded. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageIoError {
    /// The file could not be opened or read.
    #[error("cannot read image file {path}: {source}; check that the path exists and is readable")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file holds no bytes.
    #[error("image file {path} is empty (0 bytes); the copy was interrupted, re-create it")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Neither the content nor the extension names a format `image` reads.
    #[error(
        "image file {path} is not in a supported format; \
         use PNG, JPEG, BMP, GIF, PNM, TIFF or WebP"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// The image has a zero width or height.
    #[error("image file {path} is {width}x{height}: an image needs at least one pixel")]
    ZeroSize {
        /// The file.
        path: PathBuf,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The image is larger than [`MAX_IMAGE_SIDE`] or [`MAX_IMAGE_PIXELS`].
    #[error(
        "image file {path} is {width}x{height}, above the limit of {MAX_IMAGE_SIDE} pixels \
         per side and {MAX_IMAGE_PIXELS} pixels in all; downscale it first"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
    },
    /// The data is corrupt or truncated.
    #[error(
        "image file {path} cannot be decoded ({reason}); it is corrupt or truncated, re-create it"
    )]
    Decode {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        reason: String,
    },
}

/// Decodes an image file to 8-bit luma.
///
/// The format is guessed from the content, then from the extension. Colour
/// is converted as [`gray_from_image`] does (BT.601 luma, alpha dropped,
/// 16-bit and float scaled to 8 bits). Images with
/// a zero side, or larger than [`MAX_IMAGE_SIDE`] per side or
/// [`MAX_IMAGE_PIXELS`] in all, are refused before their pixels are decoded,
/// and the decoder's allocations are capped (`image::Limits`), so a small
/// file declaring a huge size cannot exhaust memory.
pub fn load_gray(path: impl AsRef<Path>) -> Result<GrayImage, ImageIoError> {
    let path = path.as_ref();
    let p = || path.to_path_buf();
    let len = std::fs::metadata(path)
        .map_err(|source| ImageIoError::Read { path: p(), source })?
        .len();
    if len == 0 {
        return Err(ImageIoError::Empty { path: p() });
    }
    decode(path, || {
        let reader =
            ImageReader::open(path).map_err(|source| ImageIoError::Read { path: p(), source })?;
        guess_format(reader, path)
    })
}

/// [`load_gray`] on the bytes of an image file already in memory. `name`
/// stands for the file in error messages, and its extension, if any, is
/// the format guessed when the content does not tell (as a file's is).
pub fn load_gray_bytes(bytes: &[u8], name: impl AsRef<Path>) -> Result<GrayImage, ImageIoError> {
    let path = name.as_ref();
    if bytes.is_empty() {
        return Err(ImageIoError::Empty {
            path: path.to_path_buf(),
        });
    }
    decode(path, || {
        let mut reader = ImageReader::new(Cursor::new(bytes));
        if let Ok(format) = ImageFormat::from_path(path) {
            reader.set_format(format);
        }
        guess_format(reader, path)
    })
}

/// The content's format, else the one already set (from the extension).
fn guess_format<R: BufRead + Seek>(
    reader: ImageReader<R>,
    path: &Path,
) -> Result<ImageReader<R>, ImageIoError> {
    let reader = reader
        .with_guessed_format()
        .map_err(|source| ImageIoError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    if reader.format().is_none() {
        return Err(ImageIoError::UnknownFormat {
            path: path.to_path_buf(),
        });
    }
    Ok(reader)
}

/// The decoder behind [`load_gray`] and [`load_gray_bytes`]: `open` gives
/// a fresh reader of the (non-empty) data each time it is called, `path`
/// names it in errors. The header is read first so that absurd sizes are
/// refused before any pixel buffer exists.
fn decode<R: BufRead + Seek>(
    path: &Path,
    open: impl Fn() -> Result<ImageReader<R>, ImageIoError>,
) -> Result<GrayImage, ImageIoError> {
    let p = || path.to_path_buf();
    let (width, height) = open()?
        .into_dimensions()
        .map_err(|e| map_image_error(path, e))?;
    if width == 0 || height == 0 {
        return Err(ImageIoError::ZeroSize {
            path: p(),
            width,
            height,
        });
    }
    if width > MAX_IMAGE_SIDE
        || height > MAX_IMAGE_SIDE
        || u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS
    {
        return Err(ImageIoError::TooLarge {
            path: p(),
            width,
            height,
        });
    }

    let mut reader = open()?;
    reader.limits(decode_limits());
    let img = reader.decode().map_err(|e| map_image_error(path, e))?;
    let gray = gray_from_image(img);
    if gray.width == 0 || gray.height == 0 {
        return Err(ImageIoError::ZeroSize {
            path: p(),
            width: gray.width,
            height: gray.height,
        });
    }
    Ok(gray)
}

/// The `image` crate limits of every decode: the side limit, and room for a
/// 16-bit RGBA decode of the largest accepted image.
fn decode_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_PIXELS * 8 + (16 << 20));
    limits
}

/// Converts a decoded image to 8-bit luma.
///
/// Gray images keep their values (alpha dropped, 16-bit and float scaled to
/// 8 bits). Colour images use the BT.601 weights
/// `Y = 0.299 R + 0.587 G + 0.114 B`: the luma a camera delivers in its
/// YUYV or JPEG Y channel, so training images and live frames agree.
pub fn gray_from_image(img: DynamicImage) -> GrayImage {
    use DynamicImage as D;
    let (width, height) = (img.width(), img.height());
    let pixels = match img {
        D::ImageLuma8(g) => g.into_raw(),
        g @ (D::ImageLumaA8(_) | D::ImageLuma16(_) | D::ImageLumaA16(_)) => {
            g.into_luma8().into_raw()
        }
        colour => colour
            .into_rgb8()
            .pixels()
            .map(|p| {
                let [r, g, b] = p.0.map(u32::from);
                ((299 * r + 587 * g + 114 * b + 500) / 1000) as u8
            })
            .collect(),
    };
    GrayImage {
        width,
        height,
        pixels,
    }
}

fn map_image_error(path: &Path, e: ImageError) -> ImageIoError {
    match e {
        ImageError::IoError(source) if source.kind() != std::io::ErrorKind::UnexpectedEof => {
            ImageIoError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
        e => ImageIoError::Decode {
            path: path.to_path_buf(),
            reason: one_line(e),
        },
    }
}
