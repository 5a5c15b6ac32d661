//! Renders a phrase with the offline typographic renderer:
//! `cargo run -p pod-workers --example render -- "Proud Cat Mom" retro pets out.png`
use pod_events::domain::design::{DesignRequested, PrintArea};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, phrase, style, niche, out] = args.as_slice() else {
        return Err("usage: render PHRASE STYLE NICHE OUT.png".into());
    };
    let layout = pod_workers::designs::typographic::Layout::for_style(style);
    let req = DesignRequested {
        idea_id: uuid::Uuid::nil(),
        phrase: phrase.clone(),
        niche: niche.clone(),
        product_type: "t-shirt".into(),
        layout: layout.name().into(),
        palette: pod_workers::designs::typographic::Palette::for_niche(niche).name.into(),
        print_area: PrintArea::default(),
    };
    let images = pod_workers::designs::typographic::render(&req)?;
    std::fs::write(out, &images.artwork_png)?;
    std::fs::write(format!("{out}.preview.png"), &images.preview_png)?;
    Ok(())
}
