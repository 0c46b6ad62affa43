use leptos::prelude::*;

use crate::api::ApiError;
use crate::session::use_session;

/// Shown while a request is on its way.
#[component]
pub fn Loading() -> impl IntoView {
    view! { <p class="state state--loading" role="status" aria-live="polite">"Loading…"</p> }
}

/// An empty list: what it would show, and what to do next.
#[component]
pub fn Empty(message: &'static str, children: Children) -> impl IntoView {
    view! {
        <div class="state state--empty">
            <p>{message}</p>
            {children()}
        </div>
    }
}

/// A failed request in words; an expired session sends the caller to the sign-in page.
#[component]
pub fn Failure(error: ApiError) -> impl IntoView {
    if error.is_unauthenticated() {
        use_session().signed_out();
    }
    view! { <p class="notice notice--error" role="alert">{error.to_string()}</p> }
}

/// Renders a loaded value, a loading state or the failure.
pub fn loaded<T, V>(value: Option<Result<T, ApiError>>, show: impl FnOnce(T) -> V) -> AnyView
where
    V: IntoView + 'static,
{
    match value {
        None => view! { <Loading/> }.into_any(),
        Some(Err(error)) => view! { <Failure error/> }.into_any(),
        Some(Ok(value)) => show(value).into_any(),
    }
}
