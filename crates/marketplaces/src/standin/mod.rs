//! Stand-ins for the marketplaces, served on 127.0.0.1 by tests and
//! benchmarks (feature `standins`): each speaks the provider's HTTP
//! contract and keeps the state a real one would, so the real clients run
//! against them unchanged.

pub mod etsy;
pub mod printify;
pub mod prism;

/// A stand-in served on a free port of 127.0.0.1: its base URL, and the
/// task serving it (abort it to stop).
async fn serve(app: axum::Router) -> std::io::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, task))
}
