//! The offline design renderer: sets an idea's phrase in a bundled
//! open-licence font (DejaVu, Bitstream Vera licence) on a transparent
//! canvas the size of the product's print area, and writes a print-ready
//! PNG (300 DPI recorded in its pHYs chunk) plus a small preview on a
//! garment-coloured background.
//!
//! Layout is pure arithmetic over glyph metrics; drawing is coverage
//! blending into an RGBA buffer. Nothing here does I/O.

use ab_glyph::{Font, FontRef, GlyphId, PxScale, ScaleFont, point};
use image::{Rgba, RgbaImage};
use pod_events::domain::design::{DesignRequested, PrintArea};

use super::{RenderError, RenderedImages, Renderer};
use crate::provider::ProviderError;

const SANS_BOLD: &[u8] = include_bytes!("../../data/fonts/DejaVuSans-Bold.ttf");
const CONDENSED_BOLD: &[u8] = include_bytes!("../../data/fonts/DejaVuSansCondensed-Bold.ttf");
const SERIF_BOLD: &[u8] = include_bytes!("../../data/fonts/DejaVuSerif-Bold.ttf");

/// Preview width in pixels (height follows the print area's proportions).
pub const PREVIEW_WIDTH: u32 = 600;

/// The layouts the renderer knows, chosen from the idea's style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Each line stretched to the full width, capitals, condensed sans.
    Stacked,
    /// Stacked with sunset bars beneath.
    Retro,
    /// Stacked inside a thick frame.
    Stamp,
    /// Even lines with a drop shadow in the accent colour.
    Shadow,
    /// Centred serif lines in title case.
    Classic,
}

impl Layout {
    pub fn for_style(style: &str) -> Self {
        match style {
            "varsity" => Self::Stacked,
            "retro" => Self::Retro,
            "stamp" => Self::Stamp,
            "groovy" => Self::Shadow,
            _ => Self::Classic,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Stacked => "stacked",
            Self::Retro => "retro",
            Self::Stamp => "stamp",
            Self::Shadow => "shadow",
            Self::Classic => "classic",
        }
    }
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Stacked, Self::Retro, Self::Stamp, Self::Shadow, Self::Classic].into_iter().find(|l| l.name() == name)
    }
}

/// Ink, accent and the garment colour of the preview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub name: &'static str,
    pub ink: [u8; 3],
    pub accent: [u8; 3],
    pub garment: [u8; 3],
}

pub const PALETTES: &[Palette] = &[
    Palette { name: "holiday", ink: [0xB3, 0x00, 0x1B], accent: [0x1E, 0x6B, 0x3A], garment: [0xF3, 0xEF, 0xE6] },
    Palette { name: "pawprint", ink: [0x2D, 0x2A, 0x32], accent: [0xF2, 0x8C, 0x28], garment: [0xE8, 0xE6, 0xE1] },
    Palette { name: "uniform", ink: [0x0B, 0x3C, 0x5D], accent: [0x32, 0x8C, 0xC1], garment: [0xF5, 0xF5, 0xF0] },
    Palette { name: "outdoors", ink: [0x1F, 0x4E, 0x3D], accent: [0xE0, 0xA1, 0x00], garment: [0xEE, 0xE8, 0xD8] },
    Palette { name: "heart", ink: [0x6B, 0x2D, 0x5C], accent: [0xF0, 0x6E, 0xAA], garment: [0xF7, 0xEE, 0xF0] },
    Palette { name: "punchline", ink: [0x11, 0x11, 0x11], accent: [0xFF, 0x3D, 0x7F], garment: [0xEC, 0xEC, 0xEC] },
    Palette { name: "sunset", ink: [0x22, 0x22, 0x22], accent: [0xFF, 0x8A, 0x00], garment: [0xEA, 0xE7, 0xE0] },
];

impl Palette {
    pub fn for_niche(niche: &str) -> &'static Palette {
        let name = match niche {
            "holidays" => "holiday",
            "pets" => "pawprint",
            "professions" => "uniform",
            "hobbies" | "places" => "outdoors",
            "family" | "causes" => "heart",
            "humour" => "punchline",
            _ => "sunset",
        };
        Self::named(name).unwrap_or(&PALETTES[PALETTES.len() - 1])
    }
    pub fn named(name: &str) -> Option<&'static Palette> {
        PALETTES.iter().find(|p| p.name == name)
    }
}

/// Splits a phrase into lines of at most `max_chars` (longer single words
/// get a line of their own).
pub fn break_lines(phrase: &str, max_chars: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in phrase.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= max_chars => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// One line of text laid out at unit size: its glyphs and advance.
struct LineShape {
    glyphs: Vec<(GlyphId, f32)>,
    width: f32,
}

fn shape<F: Font>(font: &F, text: &str) -> LineShape {
    let scaled = font.as_scaled(PxScale::from(1.0));
    let mut x = 0.0;
    let mut prev: Option<GlyphId> = None;
    let mut glyphs = Vec::new();
    for c in text.chars() {
        let id = font.glyph_id(c);
        if let Some(p) = prev {
            x += scaled.kern(p, id);
        }
        glyphs.push((id, x));
        x += scaled.h_advance(id);
        prev = Some(id);
    }
    LineShape { glyphs, width: x }
}

/// Blends `color` at `coverage` over the pixel ("source over").
fn blend(px: &mut Rgba<u8>, color: [u8; 3], coverage: f32) {
    let sa = coverage.clamp(0.0, 1.0);
    if sa <= 0.0 {
        return;
    }
    let da = px[3] as f32 / 255.0;
    let oa = sa + da * (1.0 - sa);
    for i in 0..3 {
        let c = (color[i] as f32 * sa + px[i] as f32 * da * (1.0 - sa)) / oa;
        px[i] = c.round() as u8;
    }
    px[3] = (oa * 255.0).round() as u8;
}

fn fill_rect(img: &mut RgbaImage, x0: f32, y0: f32, x1: f32, y1: f32, color: [u8; 3]) {
    let (w, h) = img.dimensions();
    let xa = x0.max(0.0).round() as u32;
    let xb = (x1.min(w as f32).round() as u32).min(w);
    let ya = y0.max(0.0).round() as u32;
    let yb = (y1.min(h as f32).round() as u32).min(h);
    for y in ya..yb {
        for x in xa..xb {
            blend(img.get_pixel_mut(x, y), color, 1.0);
        }
    }
}

fn draw_line<F: Font>(
    img: &mut RgbaImage,
    font: &F,
    line: &LineShape,
    size: f32,
    x0: f32,
    baseline: f32,
    color: [u8; 3],
) {
    let (w, h) = img.dimensions();
    for &(id, gx) in &line.glyphs {
        let glyph = id.with_scale_and_position(PxScale::from(size), point(x0 + gx * size, baseline));
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|dx, dy, cov| {
                let x = b.min.x as i64 + dx as i64;
                let y = b.min.y as i64 + dy as i64;
                if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                    blend(img.get_pixel_mut(x as u32, y as u32), color, cov);
                }
            });
        }
    }
}

/// Renders the phrase onto a transparent canvas of `width`×`height`.
pub fn render_canvas(
    phrase: &str,
    layout: Layout,
    palette: &Palette,
    width: u32,
    height: u32,
) -> Result<RgbaImage, RenderError> {
    let (font_bytes, upper) = match layout {
        Layout::Stacked | Layout::Retro | Layout::Stamp => (CONDENSED_BOLD, true),
        Layout::Shadow => (SANS_BOLD, false),
        Layout::Classic => (SERIF_BOLD, false),
    };
    let font = FontRef::try_from_slice(font_bytes).map_err(|e| RenderError::Font(e.to_string()))?;
    let text = if upper { phrase.to_uppercase() } else { phrase.to_owned() };
    let max_chars = text.split_whitespace().map(|w| w.chars().count()).max().unwrap_or(1).max(12);
    let lines = break_lines(&text, max_chars);
    if lines.is_empty() {
        return Err(RenderError::EmptyPhrase);
    }
    let shapes: Vec<LineShape> = lines.iter().map(|l| shape(&font, l)).collect();
    let unit = font.as_scaled(PxScale::from(1.0));
    let line_h = unit.ascent() - unit.descent();
    let (w, h) = (width as f32, height as f32);
    let margin = w * 0.06;
    let content_w = w - 2.0 * margin;
    let frame = matches!(layout, Layout::Stamp).then_some(w * 0.025);
    let inner_pad = frame.map(|f| f * 2.5).unwrap_or(0.0);
    let bars_h = if layout == Layout::Retro { h * 0.16 } else { 0.0 };
    let text_w = content_w - 2.0 * (frame.unwrap_or(0.0) + inner_pad);
    let gap = 0.08;
    // Stacked layouts stretch each line to the width; the others share one size.
    let stretch = matches!(layout, Layout::Stacked | Layout::Retro | Layout::Stamp);
    let widest = shapes.iter().map(|s| s.width).fold(0.0f32, f32::max).max(1e-3);
    let mut sizes: Vec<f32> =
        shapes.iter().map(|s| if stretch { text_w / s.width.max(1e-3) } else { text_w / widest }).collect();
    // Fit the block's height: at most about 70 % of the canvas (minus bars).
    let max_block = (h - 2.0 * margin - bars_h) * 0.72;
    let max_single = max_block / 2.2;
    for s in &mut sizes {
        *s = s.min(max_single / line_h);
    }
    let block = |sizes: &[f32]| sizes.iter().map(|s| s * line_h * (1.0 + gap)).sum::<f32>();
    let total = block(&sizes);
    if total > max_block {
        let k = max_block / total;
        for s in &mut sizes {
            *s *= k;
        }
    }
    let block_h = block(&sizes);
    let mut img = RgbaImage::new(width, height);
    let top = margin + ((h - 2.0 * margin - bars_h) - block_h) / 2.0;
    let mut y = top;
    let shadow = (layout == Layout::Shadow).then_some(w * 0.008);
    for (shape, &size) in shapes.iter().zip(&sizes) {
        let baseline = y + unit.ascent() * size;
        let x0 = (w - shape.width * size) / 2.0;
        if let Some(off) = shadow {
            draw_line(&mut img, &font, shape, size, x0 + off, baseline + off, palette.accent);
        }
        draw_line(&mut img, &font, shape, size, x0, baseline, palette.ink);
        y += size * line_h * (1.0 + gap);
    }
    let block_w = shapes.iter().zip(&sizes).map(|(s, z)| s.width * z).fold(0.0f32, f32::max);
    if let Some(f) = frame {
        let (x0, x1) = ((w - block_w) / 2.0 - inner_pad - f, (w + block_w) / 2.0 + inner_pad + f);
        let (y0, y1) = (top - inner_pad - f, top + block_h + inner_pad - line_h * sizes[sizes.len() - 1] * gap + f);
        fill_rect(&mut img, x0, y0, x1, y0 + f, palette.ink);
        fill_rect(&mut img, x0, y1 - f, x1, y1, palette.ink);
        fill_rect(&mut img, x0, y0, x0 + f, y1, palette.ink);
        fill_rect(&mut img, x1 - f, y0, x1, y1, palette.ink);
    }
    if layout == Layout::Retro {
        // Five sunset bars, thinning towards the bottom, ink to accent.
        let mut by = top + block_h + h * 0.01;
        for i in 0..5 {
            let t = i as f32 / 4.0;
            let mix = |a: u8, b: u8| (a as f32 * (1.0 - t) + b as f32 * t).round() as u8;
            let color = [
                mix(palette.accent[0], palette.ink[0]),
                mix(palette.accent[1], palette.ink[1]),
                mix(palette.accent[2], palette.ink[2]),
            ];
            let bh = bars_h * 0.13 * (1.0 - t * 0.5);
            fill_rect(&mut img, (w - block_w) / 2.0, by, (w + block_w) / 2.0, by + bh, color);
            by += bh + bars_h * 0.06;
        }
    }
    Ok(img)
}

/// Encodes RGBA as PNG with the DPI in its pHYs chunk.
pub fn encode_png(img: &RgbaImage, dpi: u32) -> Result<Vec<u8>, RenderError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.width(), img.height());
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let ppm = (dpi as f64 / 0.0254).round() as u32;
        enc.set_pixel_dims(Some(png::PixelDimensions { xppu: ppm, yppu: ppm, unit: png::Unit::Meter }));
        let mut writer = enc.write_header().map_err(|e| RenderError::Encode(e.to_string()))?;
        writer.write_image_data(img.as_raw()).map_err(|e| RenderError::Encode(e.to_string()))?;
        writer.finish().map_err(|e| RenderError::Encode(e.to_string()))?;
    }
    Ok(out)
}

/// The preview: the same layout at preview size, on the garment colour.
fn preview(phrase: &str, layout: Layout, palette: &Palette, area: PrintArea) -> Result<Vec<u8>, RenderError> {
    let pw = PREVIEW_WIDTH;
    let ph = ((area.height as f64 / area.width.max(1) as f64) * pw as f64).round().max(1.0) as u32;
    let art = render_canvas(phrase, layout, palette, pw, ph)?;
    let mut bg = RgbaImage::from_pixel(pw, ph, Rgba([palette.garment[0], palette.garment[1], palette.garment[2], 255]));
    image::imageops::overlay(&mut bg, &art, 0, 0);
    encode_png(&bg, 72)
}

/// Renders a requested design: artwork at the print area's size and DPI, and a preview.
pub fn render(req: &DesignRequested) -> Result<RenderedImages, RenderError> {
    let layout = Layout::parse(&req.layout).unwrap_or(Layout::Classic);
    let palette = Palette::named(&req.palette).unwrap_or_else(|| Palette::for_niche(&req.niche));
    let area = req.print_area;
    if area.width == 0 || area.height == 0 || area.width > 20_000 || area.height > 20_000 {
        return Err(RenderError::PrintArea { width: area.width, height: area.height });
    }
    let art = render_canvas(&req.phrase, layout, palette, area.width, area.height)?;
    Ok(RenderedImages {
        artwork_png: encode_png(&art, area.dpi)?,
        width: area.width,
        height: area.height,
        preview_png: preview(&req.phrase, layout, palette, area)?,
        preview_width: PREVIEW_WIDTH,
        preview_height: ((area.height as f64 / area.width as f64) * PREVIEW_WIDTH as f64).round().max(1.0) as u32,
        cost_micros: 0,
    })
}

/// The typographic renderer as a provider (CPU work on the blocking pool).
#[derive(Debug, Default, Clone)]
pub struct TypographicRenderer;

#[async_trait::async_trait]
impl Renderer for TypographicRenderer {
    fn name(&self) -> &'static str {
        "typographic"
    }
    async fn render(&self, req: &DesignRequested) -> Result<RenderedImages, ProviderError> {
        let req = req.clone();
        tokio::task::spawn_blocking(move || render(&req))
            .await
            .map_err(|e| ProviderError::transient(format!("render task failed: {e}")))?
            .map_err(ProviderError::permanent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_domain_names_exactly_the_layouts_and_palettes_rendered_here() {
        let layouts = [Layout::Stacked, Layout::Retro, Layout::Stamp, Layout::Shadow, Layout::Classic];
        let names: Vec<&str> = layouts.iter().map(|l| l.name()).collect();
        assert_eq!(names, pod_events::domain::design::LAYOUTS);
        let palettes: Vec<&str> = PALETTES.iter().map(|p| p.name).collect();
        assert_eq!(palettes, pod_events::domain::design::PALETTES);
    }

    #[test]
    fn lines_break_at_words() {
        assert_eq!(break_lines("World's Okayest Nurse", 12), ["World's", "Okayest", "Nurse"]);
        assert_eq!(break_lines("Proud Cat Mom", 12), ["Proud Cat", "Mom"]);
        assert_eq!(break_lines("Supercalifragilistic", 12), ["Supercalifragilistic"]);
    }

    fn ink_bounds(img: &RgbaImage) -> Option<(u32, u32, u32, u32)> {
        let mut b: Option<(u32, u32, u32, u32)> = None;
        for (x, y, p) in img.enumerate_pixels() {
            if p[3] > 0 {
                b = Some(match b {
                    None => (x, y, x, y),
                    Some((a, c, d, e)) => (a.min(x), c.min(y), d.max(x), e.max(y)),
                });
            }
        }
        b
    }

    #[test]
    fn every_layout_puts_ink_inside_the_margins_on_a_transparent_canvas() {
        let p = Palette::for_niche("pets");
        for layout in [Layout::Stacked, Layout::Retro, Layout::Stamp, Layout::Shadow, Layout::Classic] {
            let img = render_canvas("Crazy Cat Mom Club", layout, p, 450, 540).unwrap();
            let (x0, y0, x1, y1) = ink_bounds(&img).expect("something is drawn");
            assert!(x0 >= 20 && x1 <= 430 && y0 >= 20 && y1 <= 520, "{layout:?}: ink at {x0},{y0}–{x1},{y1}");
            // Wide enough to read: at least 60 % of the canvas width.
            assert!(x1 - x0 > 270, "{layout:?}: only {} px wide", x1 - x0);
            // Corners stay transparent (print-ready: no background).
            assert_eq!(img.get_pixel(0, 0)[3], 0);
            assert_eq!(img.get_pixel(449, 539)[3], 0);
            let inked = img.pixels().filter(|p| p[3] > 0).count();
            assert!(inked > 450 * 540 / 50, "{layout:?}: only {inked} inked pixels");
        }
    }

    #[test]
    fn a_full_size_render_is_a_print_ready_png() {
        let req = DesignRequested {
            idea_id: uuid::Uuid::nil(),
            phrase: "World's Okayest Nurse".into(),
            niche: "professions".into(),
            product_type: "t-shirt".into(),
            layout: "retro".into(),
            palette: "uniform".into(),
            print_area: PrintArea::default(),
        };
        let out = render(&req).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&out.artwork_png));
        let reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (4500, 5400));
        assert_eq!(info.color_type, png::ColorType::Rgba);
        let dims = info.pixel_dims.expect("pHYs chunk");
        assert_eq!((dims.xppu, dims.unit), (11811, png::Unit::Meter)); // 300 DPI
        let preview = image::load_from_memory(&out.preview_png).unwrap();
        assert_eq!((preview.width(), preview.height()), (600, 720));
        // The preview is opaque (garment colour), the artwork is not.
        assert_eq!(preview.to_rgba8().get_pixel(0, 0)[3], 255);
    }
}
