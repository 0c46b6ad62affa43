//! The Nimbus dashboard: a client-side Leptos app over the REST and WebSocket API.
//!
//! `app.rs` holds the routes; pages live under `pages/`, reusable pieces under `components/`,
//! the signed-in caller and live events in `session.rs`. Logic that can be tested without a
//! browser lives in plain functions (`format.rs`, the chart's SVG).

mod api;
mod app;
mod clock;
mod components;
mod format;
mod pages;
mod session;
mod theme;
mod upload;

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the page's boot script once the WebAssembly module is loaded.
#[wasm_bindgen(start)]
pub fn start() {
    theme::apply_saved();
    leptos::mount::mount_to_body(app::App);
}
