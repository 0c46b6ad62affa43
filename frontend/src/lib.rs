//! The Nimbus dashboard: a client-side Leptos app over the REST and WebSocket API.
//!
//! `app.rs` holds the routes; pages live under `pages/`, reusable pieces under `components/`.
//! Logic that can be tested without a browser lives in plain functions.

mod api;
mod app;
mod components;
mod pages;

use wasm_bindgen::prelude::wasm_bindgen;

/// Called by the page's boot script once the WebAssembly module is loaded.
#[wasm_bindgen(start)]
pub fn start() {
    leptos::mount::mount_to_body(app::App);
}
