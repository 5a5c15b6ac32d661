//! Designs from OpenAI images: a transparent PNG (`b64_json`; GPT image
//! models return no URLs), upscaled to fit the product's print area and
//! centred on a transparent canvas of exactly that size.

use async_openai::types::images::{
    CreateImageRequestArgs, Image, ImageBackground, ImageModel, ImageOutputFormat, ImageQuality, ImageSize,
};
use base64::Engine;
use image::imageops::FilterType;
use image::{Rgba, RgbaImage};
use pod_events::domain::design::{DesignRequested, PrintArea};

use super::typographic::{PREVIEW_WIDTH, Palette, encode_png};
use super::{RenderError, RenderedImages, Renderer};
use crate::openai::OpenAi;
use crate::provider::ProviderError;

/// The prompt for a design: the phrase as typography, the style, the
/// palette, and what makes it printable.
pub fn prompt(req: &DesignRequested) -> String {
    let palette = Palette::named(&req.palette).unwrap_or_else(|| Palette::for_niche(&req.niche));
    let hex = |c: [u8; 3]| format!("#{:02X}{:02X}{:02X}", c[0], c[1], c[2]);
    format!(
        "A print-ready {layout} typographic design for a {product} with the exact text \"{phrase}\". \
         Colours {ink} and {accent}. Bold, clean lettering with simple decorative elements, centred, \
         no mockup, no garment, no background, no other text, no logos or brand names.",
        layout = req.layout,
        product = req.product_type,
        phrase = req.phrase,
        ink = hex(palette.ink),
        accent = hex(palette.accent),
    )
}

/// Scales `art` to fit the print area (never beyond it) and centres it on
/// a transparent canvas of exactly the print area's size.
pub fn fit_to_area(art: &RgbaImage, area: PrintArea) -> RgbaImage {
    let (w, h) = (art.width().max(1) as f64, art.height().max(1) as f64);
    let scale = (area.width as f64 / w).min(area.height as f64 / h);
    let (nw, nh) = (((w * scale).round() as u32).max(1), ((h * scale).round() as u32).max(1));
    let resized = image::imageops::resize(art, nw.min(area.width), nh.min(area.height), FilterType::Lanczos3);
    let mut canvas = RgbaImage::new(area.width, area.height);
    let x = (area.width - resized.width()) / 2;
    let y = (area.height - resized.height()) / 2;
    image::imageops::overlay(&mut canvas, &resized, x as i64, y as i64);
    canvas
}

/// From the model's PNG to artwork and preview.
pub fn finish(png: &[u8], req: &DesignRequested, cost_micros: u64) -> Result<RenderedImages, RenderError> {
    let art =
        image::load_from_memory(png).map_err(|e| RenderError::Encode(format!("the model's image: {e}")))?.to_rgba8();
    let area = req.print_area;
    let full = fit_to_area(&art, area);
    let ph = ((area.height as f64 / area.width as f64) * PREVIEW_WIDTH as f64).round().max(1.0) as u32;
    let palette = Palette::named(&req.palette).unwrap_or_else(|| Palette::for_niche(&req.niche));
    let mut preview = RgbaImage::from_pixel(
        PREVIEW_WIDTH,
        ph,
        Rgba([palette.garment[0], palette.garment[1], palette.garment[2], 255]),
    );
    let small = fit_to_area(&art, PrintArea { width: PREVIEW_WIDTH, height: ph, dpi: 72 });
    image::imageops::overlay(&mut preview, &small, 0, 0);
    Ok(RenderedImages {
        artwork_png: encode_png(&full, area.dpi)?,
        width: area.width,
        height: area.height,
        preview_png: encode_png(&preview, 72)?,
        preview_width: PREVIEW_WIDTH,
        preview_height: ph,
        cost_micros,
    })
}

pub struct OpenAiImages {
    api: OpenAi,
}

impl OpenAiImages {
    pub fn new(api: OpenAi) -> Self {
        Self { api }
    }

    fn quality(&self) -> (ImageQuality, u64) {
        let s = &self.api.settings;
        match s.image_quality.as_str() {
            "low" => (ImageQuality::Low, s.image_micros_low),
            "high" => (ImageQuality::High, s.image_micros_high),
            _ => (ImageQuality::Medium, s.image_micros_medium),
        }
    }
}

#[async_trait::async_trait]
impl Renderer for OpenAiImages {
    fn name(&self) -> &'static str {
        "openai"
    }
    fn paid(&self) -> bool {
        true
    }

    async fn render(&self, req: &DesignRequested) -> Result<RenderedImages, ProviderError> {
        let (quality, cost) = self.quality();
        // Portrait for garments and prints, landscape for wraps (mugs), square otherwise.
        let area = req.print_area;
        let size = if area.height * 10 > area.width * 11 {
            ImageSize::S1024x1536
        } else if area.width * 10 > area.height * 11 {
            ImageSize::S1536x1024
        } else {
            ImageSize::S1024x1024
        };
        let request = CreateImageRequestArgs::default()
            .prompt(prompt(req))
            .model(ImageModel::Other(self.api.settings.image_model.clone()))
            .n(1u8)
            .size(size)
            .quality(quality)
            .background(ImageBackground::Transparent)
            .output_format(ImageOutputFormat::Png)
            .build()
            .map_err(|e| ProviderError::permanent(format!("building the request: {e}")))?;
        let response = self.api.call("OpenAI images", self.api.client.images().generate(request)).await?;
        let b64 = match response.data.first().map(|d| d.as_ref()) {
            Some(Image::B64Json { b64_json, .. }) => b64_json.clone(),
            Some(Image::Url { .. }) => {
                return Err(ProviderError::permanent("the image came as a URL; GPT image models return b64_json"));
            }
            None => return Err(ProviderError::permanent("the response holds no image")),
        };
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_bytes())
            .map_err(|e| ProviderError::permanent(format!("the image is not valid base64: {e}")))?;
        let req = req.clone();
        tokio::task::spawn_blocking(move || finish(&png, &req, cost))
            .await
            .map_err(|e| ProviderError::transient(format!("image task failed: {e}")))?
            .map_err(ProviderError::permanent)
    }
}
