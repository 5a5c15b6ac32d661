//! The real OpenAI clients against a local server speaking OpenAI's HTTP
//! contract: success, malformed output, 429 with `retry-after`, 5xx, 401.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use pod_events::domain::design::{DesignRequested, PrintArea};
use pod_workers::designs::Renderer;
use pod_workers::designs::openai::OpenAiImages;
use pod_workers::ideation::openai::OpenAiIdeas;
use pod_workers::ideation::{IdeaProvider, IdeaRequest};
use pod_workers::openai::{OpenAi, OpenAiSettings};
use pod_workers::provider::ProviderError;
use serde_json::{Value, json};

#[derive(Clone, Copy)]
enum Script {
    Ok,
    Malformed,
    RateLimited,
    /// A proxy's 429: plain text, not OpenAI's JSON.
    ProxyRateLimited,
    ServerError,
    Unauthorised,
}

#[derive(Clone)]
struct Server {
    script: Arc<Mutex<Script>>,
    seen: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    (status, axum::Json(body)).into_response()
}

fn scripted_failure(script: Script) -> Option<Response> {
    match script {
        Script::RateLimited => {
            let mut r = error(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "Rate limit reached");
            r.headers_mut().insert("retry-after", "7".parse().unwrap());
            Some(r)
        }
        Script::ProxyRateLimited => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
            r.headers_mut().insert("retry-after", "3".parse().unwrap());
            Some(r)
        }
        Script::ServerError => {
            Some(error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "The server had an error"))
        }
        Script::Unauthorised => {
            Some(error(StatusCode::UNAUTHORIZED, "invalid_request_error", "Incorrect API key provided"))
        }
        _ => None,
    }
}

async fn chat(State(s): State<Server>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    s.seen.lock().unwrap().push((headers, body));
    let script = *s.script.lock().unwrap();
    if let Some(r) = scripted_failure(script) {
        return r;
    }
    let content = match script {
        Script::Malformed => "Sure! Here are some ideas: cat mom shirt".to_owned(),
        _ => json!({"ideas": [
            {"phrase": "Meow  Mama", "product_type": "mug", "style": "retro", "audience": "cat owners",
             "tags": ["Cat Mom", "cat mom!", "crazy cat lady shirt gift idea", "meow mama"]},
            {"phrase": "Purrfect Mom", "product_type": "spaceship", "style": "neon", "audience": "cat moms",
             "tags": ["purrfect mom"]}
        ]})
        .to_string(),
    };
    axum::Json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": null},
                     "finish_reason": "stop", "logprobs": null}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 2000, "total_tokens": 3000}
    }))
    .into_response()
}

fn transparent_png() -> Vec<u8> {
    let mut img = image::RgbaImage::new(64, 96);
    for y in 30..60 {
        for x in 10..54 {
            img.put_pixel(x, y, image::Rgba([200, 30, 60, 255]));
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

async fn images(State(s): State<Server>, headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> Response {
    s.seen.lock().unwrap().push((headers, body));
    let script = *s.script.lock().unwrap();
    if let Some(r) = scripted_failure(script) {
        return r;
    }
    let b64 = match script {
        Script::Malformed => "%%% not base64 %%%".to_owned(),
        _ => base64::engine::general_purpose::STANDARD.encode(transparent_png()),
    };
    axum::Json(json!({"created": 1, "data": [{"b64_json": b64}], "background": "transparent",
                      "output_format": "png", "size": "1024x1536", "quality": "medium"}))
    .into_response()
}

async fn serve() -> (String, Server) {
    let s = Server { script: Arc::new(Mutex::new(Script::Ok)), seen: Arc::default() };
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/images/generations", post(images))
        .with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/v1"), s)
}

fn api(base: &str) -> OpenAi {
    OpenAi::new(OpenAiSettings {
        api_key: Some("sk-test".into()),
        base_url: base.into(),
        image_model: "gpt-image-2".into(),
        requests_per_minute: 6000,
        ..Default::default()
    })
    .unwrap()
}

fn request() -> IdeaRequest {
    IdeaRequest {
        trend_id: uuid::Uuid::nil(),
        keyword: "cat mom".into(),
        niche: "pets".into(),
        product_types: vec!["t-shirt".into(), "mug".into()],
        count: 3,
        round: 0,
        skip: 0,
    }
}

#[tokio::test]
async fn chat_ideas_follow_the_schema_and_our_rules_and_cost_is_counted() {
    let (base, server) = serve().await;
    let ideas = OpenAiIdeas::new(api(&base)).ideas(&request()).await.unwrap();
    assert_eq!(ideas.drafts.len(), 2);
    let a = &ideas.drafts[0];
    assert_eq!((a.phrase.as_str(), a.product_type.as_str(), a.style.as_str()), ("Meow Mama", "mug", "retro"));
    // Tags cleaned into Etsy's alphabet and length, duplicates dropped.
    assert_eq!(a.tags, ["cat mom", "crazy cat lady shirt", "meow mama"]);
    // Unknown product types and styles fall back to ones we can make.
    let b = &ideas.drafts[1];
    assert_eq!((b.product_type.as_str(), b.style.as_str()), ("t-shirt", "classic"));
    assert_eq!(ideas.model.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    // 1,000 input tokens at $0.15/M + 2,000 output tokens at $0.60/M.
    assert_eq!(ideas.cost_micros, 150 + 1200);

    let seen = server.seen.lock().unwrap();
    let (headers, body) = &seen[0];
    assert_eq!(headers["authorization"], "Bearer sk-test");
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert_eq!(body["response_format"]["json_schema"]["schema"]["required"], json!(["ideas"]));
}

#[tokio::test]
async fn chat_failures_map_onto_retry_decisions() {
    let (base, server) = serve().await;
    let provider = OpenAiIdeas::new(api(&base));
    *server.script.lock().unwrap() = Script::RateLimited;
    match provider.ideas(&request()).await {
        Err(ProviderError::Transient { retry_after, reason }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(7)), "{reason}");
            assert!(reason.contains("429"), "{reason}");
        }
        other => panic!("429 should be transient with retry-after: {other:?}"),
    }
    *server.script.lock().unwrap() = Script::ProxyRateLimited;
    let proxied = provider.ideas(&request()).await;
    assert!(
        matches!(&proxied, Err(ProviderError::Transient { retry_after: Some(d), .. }) if *d == Duration::from_secs(3)),
        "{proxied:?}"
    );
    *server.script.lock().unwrap() = Script::ServerError;
    assert!(matches!(provider.ideas(&request()).await, Err(ProviderError::Transient { retry_after: None, .. })));
    *server.script.lock().unwrap() = Script::Unauthorised;
    assert!(
        matches!(provider.ideas(&request()).await, Err(ProviderError::Permanent { reason }) if reason.contains("401"))
    );
    *server.script.lock().unwrap() = Script::Malformed;
    assert!(
        matches!(provider.ideas(&request()).await, Err(ProviderError::Permanent { reason }) if reason.contains("schema"))
    );
}

fn design() -> DesignRequested {
    DesignRequested {
        idea_id: uuid::Uuid::nil(),
        phrase: "Meow Mama".into(),
        niche: "pets".into(),
        product_type: "t-shirt".into(),
        layout: "retro".into(),
        palette: "pawprint".into(),
        print_area: PrintArea::default(),
    }
}

#[tokio::test]
async fn images_come_back_as_b64_and_are_fitted_to_the_print_area() {
    let (base, server) = serve().await;
    let images = OpenAiImages::new(api(&base)).render(&design()).await.unwrap();
    assert_eq!((images.width, images.height), (4500, 5400));
    let art = image::load_from_memory(&images.artwork_png).unwrap().to_rgba8();
    assert_eq!(art.dimensions(), (4500, 5400));
    // 64×96 scaled by 56.25 is 3600×5400, centred: transparent margins left and right.
    assert_eq!(art.get_pixel(100, 2700)[3], 0);
    assert_eq!(art.get_pixel(2250, 2700)[3], 255, "the shape, upscaled, in the middle");
    assert_eq!(images.cost_micros, 42_000);
    let preview = image::load_from_memory(&images.preview_png).unwrap();
    assert_eq!((preview.width(), preview.height()), (600, 720));

    let seen = server.seen.lock().unwrap();
    let body = &seen[0].1;
    assert_eq!(body["model"], "gpt-image-2");
    assert_eq!(body["background"], "transparent");
    assert_eq!(body["output_format"], "png");
    assert_eq!(body["size"], "1024x1536");
    assert!(body["prompt"].as_str().unwrap().contains("\"Meow Mama\""));
    assert!(body.get("response_format").is_none(), "GPT image models take no response_format");
}

#[tokio::test]
async fn image_failures_map_onto_retry_decisions() {
    let (base, server) = serve().await;
    let renderer = OpenAiImages::new(api(&base));
    *server.script.lock().unwrap() = Script::RateLimited;
    assert!(matches!(
        renderer.render(&design()).await,
        Err(ProviderError::Transient { retry_after: Some(d), .. }) if d == Duration::from_secs(7)
    ));
    *server.script.lock().unwrap() = Script::ServerError;
    assert!(matches!(renderer.render(&design()).await, Err(ProviderError::Transient { .. })));
    *server.script.lock().unwrap() = Script::Malformed;
    assert!(
        matches!(renderer.render(&design()).await, Err(ProviderError::Permanent { reason }) if reason.contains("base64"))
    );
}
