//! SIMD resampling (fast_image_resize, Lanczos3 as libvips' reduce) of a crop of the
//! source to the planned size. Alpha is premultiplied in the source's own buffer (the
//! resizer would otherwise make a premultiplied copy of the whole bitmap), so the
//! colour of transparent pixels never bleeds into their neighbours.

use fast_image_resize::{MulDiv, PixelType, ResizeOptions, Resizer, images::Image};

use super::geometry::Plan;
use super::pixels::Pixels;
use crate::error::{Error, Result};

pub(crate) fn resize(src: Pixels, plan: &Plan) -> Result<Pixels> {
    if plan.is_identity(src.width, src.height) {
        return Ok(src);
    }
    let err = |e: &dyn std::fmt::Display| Error::InvalidOptions(format!("resize failed: {e}"));
    let alpha = src.channels == 4;
    let pixel_type = if alpha {
        PixelType::U8x4
    } else {
        PixelType::U8x3
    };
    let mut src_img =
        Image::from_vec_u8(src.width, src.height, src.data, pixel_type).map_err(|e| err(&e))?;
    let mul_div = MulDiv::default();
    if alpha {
        mul_div
            .multiply_alpha_inplace(&mut src_img)
            .map_err(|e| err(&e))?;
    }
    let mut dst = Image::new(plan.width, plan.height, pixel_type);
    let (x, y, w, h) = plan.crop;
    let options = ResizeOptions::new().crop(x, y, w, h).use_alpha(false);
    Resizer::new()
        .resize(&src_img, &mut dst, &options)
        .map_err(|e| err(&e))?;
    drop(src_img);
    if alpha {
        mul_div
            .divide_alpha_inplace(&mut dst)
            .map_err(|e| err(&e))?;
    }
    Ok(Pixels {
        width: plan.width,
        height: plan.height,
        channels: src.channels,
        data: dst.into_vec(),
    })
}
