use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::identity::{Me, Tenant, TenantSettingsChange};

use crate::api::{self, ApiError};
use crate::components::{Failure, loaded};
use crate::session::{SessionState, use_session};

/// The tenant's name, reporting currency and time zone.
#[component]
pub fn SettingsPage() -> impl IntoView {
    let session = use_session();
    // Untracked: saving refreshes the caller, which must not reload the form (a tenant switch
    // renders the whole frame anew anyway).
    let tenant_id = move || {
        session.state.with_untracked(|state| match state {
            SessionState::SignedIn(me) => me.tenant.as_ref().map(|t| t.id.0.to_string()),
            _ => None,
        })
    };
    let data = LocalResource::new(move || {
        let id = tenant_id().unwrap_or_default();
        async move { api::get::<Tenant>(&format!("/api/v1/tenants/{id}")).await }
    });
    view! {
        <h1>"Tenant settings"</h1>
        {move || loaded(data.get(), |tenant: Tenant| view! { <SettingsForm tenant/> })}
    }
}

#[component]
fn SettingsForm(tenant: Tenant) -> impl IntoView {
    let session = use_session();
    let name = RwSignal::new(tenant.name.clone());
    let currency = RwSignal::new(tenant.reporting_currency.clone());
    let time_zone = RwSignal::new(tenant.time_zone.clone());
    let outcome = RwSignal::new(None::<Result<(), ApiError>>);
    let id = tenant.id;
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let change = TenantSettingsChange {
            name: Some(name.get_untracked()),
            reporting_currency: Some(currency.get_untracked().trim().to_uppercase()),
            time_zone: Some(time_zone.get_untracked()),
        };
        spawn_local(async move {
            let saved =
                api::patch::<_, Tenant>(&format!("/api/v1/tenants/{}", id.0), &change).await;
            if saved.is_ok() {
                // The tenant switcher shows the new name.
                if let Ok(me) = api::get::<Me>("/api/v1/me").await {
                    session.refreshed(me);
                }
            }
            outcome.set(Some(saved.map(drop)));
        });
    };
    view! {
        <form class="form" on:submit=submit aria-label="Tenant settings">
            <label>"Name"<input type="text" name="tenant_name" required prop:value=move || name.get()
                on:input:target=move |ev| name.set(ev.target().value())/></label>
            <label>"Reporting currency (ISO 4217, e.g. EUR)"<input type="text" name="reporting_currency" required maxlength="3"
                prop:value=move || currency.get() on:input:target=move |ev| currency.set(ev.target().value())/></label>
            <label>"Time zone (IANA, e.g. Europe/Berlin)"<input type="text" name="time_zone" required
                prop:value=move || time_zone.get() on:input:target=move |ev| time_zone.set(ev.target().value())/></label>
            <p class="hint">"The slug "<code>{tenant.slug}</code>" is fixed."</p>
            <button class="button button--primary" type="submit">"Save"</button>
        </form>
        {move || outcome.get().map(|outcome| match outcome {
            Ok(()) => view! { <p class="notice notice--ok" role="status">"Saved."</p> }.into_any(),
            Err(error) => view! { <Failure error/> }.into_any(),
        })}
    }
}
