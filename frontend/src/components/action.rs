//! What a button does: its request, and the failure it shows.

use std::future::Future;
use std::pin::Pin;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::ApiError;

/// A request a button starts.
type Request = Pin<Box<dyn Future<Output = Result<(), ApiError>>>>;

/// Runs a button's request: on success the failure shown is cleared and `done` runs (to
/// reload what changed); on failure the failure is shown.
pub fn run_action(
    failure: RwSignal<Option<ApiError>>,
    done: impl Fn() + Copy + 'static,
) -> impl Fn(Request) + Copy + 'static {
    move |request: Request| {
        spawn_local(async move {
            match request.await {
                Ok(()) => {
                    failure.set(None);
                    done();
                }
                Err(err) => failure.set(Some(err)),
            }
        });
    }
}
