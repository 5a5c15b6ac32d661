//! A render answers one request: a `DesignRequested` redelivered after a
//! person asked for another take is neither rendered (nor paid for) nor
//! recorded over the new take.

use std::sync::Arc;
use std::sync::Mutex;

use pod_events::domain::Actor;
use pod_events::domain::design::{Design, DesignCommand, DesignRequested, PrintArea};
use pod_events::store::reader::{LogReader, Start};
use pod_events::{AggregateId, EventMeta, RecordedEvent};
use pod_workers::designs::{Designs, RenderedImages, Renderer};
use pod_workers::pipeline::Pipeline;
use pod_workers::provider::ProviderError;
use pod_workers::runtime::Handler;

use crate::support::*;

/// Records what it was asked to render; returns tiny stand-in images of the
/// print area's size.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl Renderer for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    async fn render(&self, req: &DesignRequested) -> Result<RenderedImages, ProviderError> {
        self.calls.lock().unwrap().push((req.layout.clone(), req.palette.clone()));
        let png = format!("{}-{}", req.layout, req.palette).into_bytes();
        Ok(RenderedImages {
            artwork_png: png.clone(),
            width: req.print_area.width,
            height: req.print_area.height,
            preview_png: png,
            preview_width: 600,
            preview_height: 720,
            cost_micros: 0,
        })
    }
}

async fn events(env: &TestNats) -> Vec<RecordedEvent> {
    let mut r = LogReader::open(env.client.clone(), &env.ns, vec![env.ns.all_events()], Start::All).await.unwrap();
    r.next_batch(100).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_redelivered_after_another_take_is_not_rendered_again() {
    let env = TestNats::new().await;
    let pipeline = Arc::new(Pipeline::open(env.client.clone(), &env.ns).await.unwrap());
    let id = AggregateId::derived(tenant(), "design", "one");
    let request = DesignRequested {
        idea_id: uuid::Uuid::nil(),
        phrase: "Crazy Cat Mom".into(),
        niche: "pets".into(),
        product_type: "t-shirt".into(),
        layout: "stacked".into(),
        palette: "pawprint".into(),
        print_area: PrintArea::default(),
    };
    pipeline.designs.execute(&id, DesignCommand::Request(request), &EventMeta::new_command()).await.unwrap();
    let renderer = Arc::new(Recorder::default());
    let dir = std::env::temp_dir().join(format!("pod-renders-{}", uuid::Uuid::new_v4().simple()));
    let blobs = Arc::new(pod_blobs::LocalBlobStore::new(&dir));
    let designs = Designs::new(pipeline.clone(), renderer.clone(), blobs);
    let requested = events(&env).await.remove(0);
    designs.handle(&requested).await.unwrap();

    // Another take, and the first request delivered again before it is rendered.
    let retro = pod_events::domain::design::Layout::parse("retro").ok();
    let again = DesignCommand::Regenerate { by: Actor::System, layout: retro, palette: None };
    pipeline.designs.execute(&id, again, &EventMeta::new_command()).await.unwrap();
    designs.handle(&requested).await.unwrap();
    assert_eq!(renderer.calls.lock().unwrap().len(), 1, "the superseded request is not rendered again");

    let regeneration = events(&env).await.into_iter().find(|e| e.event_type == "DesignRegenerationRequested").unwrap();
    designs.handle(&regeneration).await.unwrap();
    designs.handle(&regeneration).await.unwrap();
    let calls = renderer.calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2, "the new take rendered once: {calls:?}");
    assert_eq!(calls[1].0, "retro");

    let log = events(&env).await;
    let renders: Vec<_> = log.iter().filter(|e| e.event_type == "DesignRendered").collect();
    assert_eq!(renders.len(), 2);
    assert_eq!(renders[1].payload["attempt"], 1, "the second render answers the regeneration");
    let design: Design = env.store_of::<Design>().await.load_fresh(&id).await.unwrap().aggregate;
    assert_eq!(design.request.unwrap().layout, "retro");
    let _ = std::fs::remove_dir_all(dir);
}
