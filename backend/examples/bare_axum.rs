//! The baseline of `scripts/bench-api`: a bare axum server that answers `GET /` with the bytes
//! of a JSON file, with no middleware, authentication or database. What Nimbus's own stack costs
//! is measured against it.
//!
//! Usage: `bare_axum ADDR FILE`

use std::net::SocketAddr;

use axum::Router;
use axum::http::header;
use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(address), Some(file)) = (args.next(), args.next()) else {
        return Err("usage: bare_axum ADDR FILE".into());
    };
    let address: SocketAddr = address.parse()?;
    let body: &'static [u8] = std::fs::read(file)?.leak();
    let app = Router::new().route(
        "/",
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], body) }),
    );
    let listener = tokio::net::TcpListener::bind(address).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
