//! The dashboard's static files, compiled into the binary: our stylesheet
//! and script, and the vendored htmx and uPlot (with their licences).

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::problem::Problem;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("../../assets/app.css") },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/app.js"),
    },
    Asset {
        name: "htmx-2.0.11.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/vendor/htmx-2.0.11.min.js"),
    },
    Asset {
        name: "uPlot-1.6.32.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/vendor/uPlot-1.6.32.iife.min.js"),
    },
    Asset {
        name: "uPlot-1.6.32.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/vendor/uPlot-1.6.32.min.css"),
    },
    Asset {
        name: "api-reference.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/api-reference.js"),
    },
    Asset {
        name: "swagger-ui-5.35.0-bundle.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/vendor/swagger-ui-5.35.0-bundle.js"),
    },
    Asset {
        name: "swagger-ui-5.35.0.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/vendor/swagger-ui-5.35.0.css"),
    },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", bytes: include_bytes!("../../assets/favicon.svg") },
];

/// One asset. Vendored files carry their version in the name and are
/// cached for a year; ours for five minutes.
pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.name == file) else {
        return Problem::not_found("such asset").into_response();
    };
    let cache = if a.name.starts_with("app.") || a.name.starts_with("api-") {
        "public, max-age=300"
    } else {
        "public, max-age=31536000, immutable"
    };
    ([(header::CONTENT_TYPE, a.content_type), (header::CACHE_CONTROL, cache)], a.bytes).into_response()
}
