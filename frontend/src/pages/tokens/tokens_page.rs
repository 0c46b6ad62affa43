use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::identity::{ApiToken, CreatedApiToken, NewApiToken, Page};

use crate::api;
use crate::clock;
use crate::components::{Empty, Failure, loaded};
use crate::format;

/// The caller's API tokens: create one (its secret shown once), see when each was last used,
/// revoke.
#[component]
pub fn TokensPage() -> impl IntoView {
    let changed = RwSignal::new(0_u32);
    let data = LocalResource::new(move || {
        changed.track();
        async move { api::get::<Page<ApiToken>>("/api/v1/api-tokens?limit=200").await }
    });
    let name = RwSignal::new(String::new());
    let created = RwSignal::new(None::<CreatedApiToken>);
    let failure = RwSignal::new(None::<api::ApiError>);
    let create = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let request = NewApiToken {
            name: name.get_untracked(),
            permissions: None,
            project_id: None,
            expires_in_days: None,
        };
        spawn_local(async move {
            match api::post::<_, CreatedApiToken>("/api/v1/api-tokens", &request).await {
                Ok(token) => {
                    failure.set(None);
                    name.set(String::new());
                    created.set(Some(token));
                    changed.update(|n| *n += 1);
                }
                Err(err) => failure.set(Some(err)),
            }
        });
    };
    let revoke = move |token: ApiToken| {
        spawn_local(async move {
            match api::delete(&format!("/api/v1/api-tokens/{}", token.id.0)).await {
                Ok(()) => {
                    created.update(|shown| {
                        if shown
                            .as_ref()
                            .is_some_and(|shown| shown.token.id == token.id)
                        {
                            *shown = None;
                        }
                    });
                    changed.update(|n| *n += 1);
                }
                Err(err) => failure.set(Some(err)),
            }
        });
    };
    view! {
        <h1>"API tokens"</h1>
        <p>"Tokens let scripts and integrations call the API as you, with at most your permissions."</p>
        <form class="form form--inline" on:submit=create aria-label="New API token">
            <label>"Name"<input type="text" name="token_name" required placeholder="e.g. CI pipeline"
                prop:value=move || name.get() on:input:target=move |ev| name.set(ev.target().value())/></label>
            <button class="button button--primary" type="submit">"Create token"</button>
        </form>
        {move || failure.get().map(|error| view! { <Failure error/> })}
        {move || created.get().map(|created| view! {
            <div class="notice notice--ok" role="status">
                <p>"Copy the token "<strong>{created.token.name.clone()}</strong>" now: it is shown only this once."</p>
                <code class="secret" data-testid="token-secret">{created.secret.clone()}</code>
            </div>
        })}
        {move || loaded(data.get(), move |page: Page<ApiToken>| {
            let live: Vec<ApiToken> = page.items.into_iter().filter(|t| t.revoked_at.is_none()).collect();
            if live.is_empty() {
                return view! { <Empty message="No API tokens.">"Create one above for a script or an integration."</Empty> }.into_any();
            }
            let now = clock::now();
            view! {
                <table class="table" aria-label="API tokens">
                    <thead><tr><th scope="col">"Name"</th><th scope="col">"Starts with"</th><th scope="col">"Created"</th>
                        <th scope="col">"Last used"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                    <tbody>
                        {live.into_iter().map(|token| {
                            let label = format!("Revoke {}", token.name);
                            let to_revoke = token.clone();
                            view! {
                                <tr>
                                    <td>{token.name.clone()}</td>
                                    <td><code>{token.display_prefix.clone()}"…"</code></td>
                                    <td>{format::age(token.created_at, now)}</td>
                                    <td>{token.last_used_at.map_or_else(|| "never".to_owned(), |at| format::age(at, now))}</td>
                                    <td><button type="button" class="button button--danger" aria-label=label
                                        on:click=move |_| revoke(to_revoke.clone())>"Revoke"</button></td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        })}
    }
}
