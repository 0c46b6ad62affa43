use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::identity::{Page, RoleBinding, RoleRef, User};
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_api_types::sso::{
    IdentityProvider, IdentityProviderInput, ProviderKind, ProviderPreset, RoleMapping, SsoPolicy,
};

use crate::api::{self, ApiError};
use crate::components::{Failure, loaded, run_action};

/// The tenant's identity providers (add, turn on or off, remove) and whether it requires
/// single sign-on, with its break-glass Owner. Owners only (`identity-providers:manage`).
#[component]
pub fn SsoPage() -> impl IntoView {
    let changed = RwSignal::new(0_u32);
    let failure = RwSignal::new(None::<ApiError>);
    let editing = RwSignal::new(None::<IdentityProvider>);
    let bump = move || changed.update(|n| *n += 1);
    let data = LocalResource::new(move || {
        changed.track();
        api::get::<Vec<IdentityProvider>>("/api/v1/identity-providers")
    });
    let act = run_action(failure, bump);
    let origin = window().location().origin().unwrap_or_default();
    view! {
        <h1>"Single sign-on"</h1>
        <p class="hint">
            "Register Nimbus at your provider with the redirect URI "
            <code>{format!("{origin}/api/v1/auth/sso/callback")}</code>
            " and the post-logout redirect URI "<code>{format!("{origin}/sign-in")}</code>
            ". People sign in at "<code>{format!("{origin}/sign-in?tenant=…")}</code>" (your tenant's slug)."
        </p>
        {move || failure.get().map(|error| view! { <Failure error/> })}
        <section class="panel">
            <h2>"Identity providers"</h2>
            {move || loaded(data.get(), move |providers: Vec<IdentityProvider>| view! {
                <table class="table" aria-label="Identity providers">
                    <thead><tr><th scope="col">"Name"</th><th scope="col">"Kind"</th><th scope="col">"Issuer"</th>
                        <th scope="col">"Admitted domains"</th><th scope="col">"Groups → roles"</th><th scope="col">"State"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                    <tbody>
                        {providers.into_iter().map(|provider| {
                            let id = provider.id;
                            let name = provider.name.clone();
                            let mut toggled = input_of(&provider);
                            toggled.enabled = !provider.enabled;
                            let chosen = provider.clone();
                            view! {
                                <tr>
                                    <td>{provider.name.clone()}</td>
                                    <td>{kind_label(&provider)}</td>
                                    <td>{provider.issuer.clone().unwrap_or_else(|| "github.com".to_owned())}</td>
                                    <td>{provider.allowed_domains.join(", ")}</td>
                                    <td>{mappings_text(&provider.role_mappings)}" (else "{provider.default_role.as_str()}")"</td>
                                    <td>{if provider.enabled { "enabled" } else { "disabled" }}</td>
                                    <td>
                                        <button type="button" class="button" aria-label=format!("{} {name}", if provider.enabled { "Disable" } else { "Enable" })
                                            on:click=move |_| {
                                                let toggled = toggled.clone();
                                                act(Box::pin(async move {
                                                    api::put::<_, IdentityProvider>(&format!("/api/v1/identity-providers/{}", id.0), &toggled).await.map(drop)
                                                }))
                                            }>{if provider.enabled { "Disable" } else { "Enable" }}</button>
                                        " "
                                        <button type="button" class="button" aria-label=format!("Change {}", provider.name)
                                            on:click=move |_| editing.set(Some(chosen.clone()))>"Change"</button>
                                        " "
                                        <button type="button" class="button button--danger" aria-label=format!("Remove {}", provider.name)
                                            on:click=move |_| act(Box::pin(async move {
                                                api::delete(&format!("/api/v1/identity-providers/{}", id.0)).await
                                            }))>"Remove"</button>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            })}
            <ProviderForm editing on_done=bump/>
        </section>
        <Policy/>
    }
}

fn kind_label(provider: &IdentityProvider) -> &'static str {
    match (provider.kind, provider.preset) {
        (ProviderKind::Github, _) => "GitHub",
        (ProviderKind::Oidc, Some(preset)) => preset_label(preset),
        (ProviderKind::Oidc, None) => "OpenID Connect",
    }
}

/// A provider's settings as the API takes them back (the stored secret is kept).
fn input_of(provider: &IdentityProvider) -> IdentityProviderInput {
    IdentityProviderInput {
        name: provider.name.clone(),
        kind: provider.kind,
        preset: provider.preset,
        issuer: provider.issuer.clone(),
        client_id: provider.client_id.clone(),
        client_secret: None,
        scopes: provider.scopes.clone(),
        groups_claim: provider.groups_claim.clone(),
        allowed_domains: provider.allowed_domains.clone(),
        role_mappings: provider.role_mappings.clone(),
        default_role: Some(provider.default_role),
        enabled: provider.enabled,
    }
}

fn mappings_text(mappings: &[RoleMapping]) -> String {
    mappings
        .iter()
        .map(|mapping| format!("{} = {}", mapping.group, mapping.role.as_str()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Role mappings typed one a line as `group = role`; blank lines are skipped. The error names
/// the line that is not one.
fn parse_mappings(text: &str) -> Result<Vec<RoleMapping>, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (group, role) = line.rsplit_once('=').ok_or_else(|| {
                format!("\u{201c}{line}\u{201d} is not \u{201c}group = role\u{201d}")
            })?;
            let role = BuiltinRole::from_name(role.trim()).ok_or_else(|| {
                format!(
                    "\u{201c}{}\u{201d} is not a role: owner, admin, operator, finance or viewer",
                    role.trim()
                )
            })?;
            Ok(RoleMapping {
                group: group.trim().to_owned(),
                role,
            })
        })
        .collect()
}

/// Comma- or space-separated words.
fn words(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Adds a provider, or changes the one `editing` holds (its stored secret stays unless a new
/// one is typed).
#[component]
fn ProviderForm(
    editing: RwSignal<Option<IdentityProvider>>,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(ProviderKind::Oidc);
    let preset = RwSignal::new(None::<ProviderPreset>);
    let issuer = RwSignal::new(String::new());
    let client_id = RwSignal::new(String::new());
    let client_secret = RwSignal::new(String::new());
    let domains = RwSignal::new(String::new());
    let groups_claim = RwSignal::new(String::from("groups"));
    let mappings = RwSignal::new(String::new());
    let default_role = RwSignal::new(BuiltinRole::Viewer);
    let enabled = RwSignal::new(true);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    // Choosing a provider to change fills the form with its settings; none empties it.
    Effect::new(move |_| {
        let chosen = editing.get();
        let provider = chosen.as_ref();
        name.set(provider.map(|p| p.name.clone()).unwrap_or_default());
        kind.set(provider.map_or(ProviderKind::Oidc, |p| p.kind));
        preset.set(provider.and_then(|p| p.preset));
        issuer.set(provider.and_then(|p| p.issuer.clone()).unwrap_or_default());
        client_id.set(provider.map(|p| p.client_id.clone()).unwrap_or_default());
        client_secret.set(String::new());
        domains.set(
            provider
                .map(|p| p.allowed_domains.join(", "))
                .unwrap_or_default(),
        );
        groups_claim.set(provider.map_or_else(
            || "groups".to_owned(),
            |p| p.groups_claim.clone().unwrap_or_default(),
        ));
        mappings.set(
            provider
                .map(|p| mappings_text(&p.role_mappings))
                .unwrap_or_default(),
        );
        default_role.set(provider.map_or(BuiltinRole::Viewer, |p| p.default_role));
        enabled.set(provider.is_none_or(|p| p.enabled));
    });
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let role_mappings = match parse_mappings(&mappings.get_untracked()) {
            Ok(parsed) => parsed,
            Err(message) => {
                outcome.set(Some(Err(format!("Groups → roles: {message}"))));
                return;
            }
        };
        let github = kind.get_untracked() == ProviderKind::Github;
        let changing = editing.get_untracked();
        let request = IdentityProviderInput {
            name: name.get_untracked().trim().to_owned(),
            kind: kind.get_untracked(),
            preset: preset.get_untracked().filter(|_| !github),
            issuer: Some(issuer.get_untracked().trim().to_owned()).filter(|text| !text.is_empty()),
            client_id: client_id.get_untracked().trim().to_owned(),
            client_secret: Some(client_secret.get_untracked()).filter(|secret| !secret.is_empty()),
            scopes: match &changing {
                Some(provider) => provider.scopes.clone(),
                None if github => Vec::new(),
                None => words("email profile groups"),
            },
            groups_claim: (!github)
                .then(|| groups_claim.get_untracked().trim().to_owned())
                .filter(|claim| !claim.is_empty()),
            allowed_domains: words(&domains.get_untracked().to_lowercase()),
            role_mappings,
            default_role: Some(default_role.get_untracked()),
            enabled: enabled.get_untracked(),
        };
        spawn_local(async move {
            let saved = match &changing {
                Some(provider) => {
                    api::put::<_, IdentityProvider>(
                        &format!("/api/v1/identity-providers/{}", provider.id.0),
                        &request,
                    )
                    .await
                }
                None => {
                    api::post::<_, IdentityProvider>("/api/v1/identity-providers", &request).await
                }
            };
            let saved = saved
                .map(|provider| {
                    if changing.is_some() {
                        format!("Saved {}.", provider.name)
                    } else {
                        format!("Added {}.", provider.name)
                    }
                })
                .map_err(|err| err.to_string());
            if saved.is_ok() {
                editing.set(None);
                on_done();
            }
            outcome.set(Some(saved));
        });
    };
    let text = |label: &'static str,
                field: &'static str,
                value: RwSignal<String>,
                kind: &'static str,
                required: bool| {
        view! {
            <label>{label}<input type=kind name=field required=required autocomplete="off" prop:value=move || value.get()
                on:input:target=move |ev| value.set(ev.target().value())/></label>
        }
    };
    let changing = move || editing.with(Option::is_some);
    view! {
        <form class="form" on:submit=submit aria-label="Identity provider settings">
            <h3>{move || editing.with(|chosen| chosen.as_ref().map_or_else(|| "Add a provider".to_owned(), |p| format!("Change {}", p.name)))}</h3>
            {text("Name on the sign-in button", "provider_name", name, "text", true)}
            <label>"Kind"<select name="provider_kind" on:change:target=move |ev| {
                if let Some(chosen) = ProviderKind::from_name(&ev.target().value()) { kind.set(chosen) }
            }>
                <option value="oidc" selected=move || kind.get() == ProviderKind::Oidc>"OpenID Connect"</option>
                <option value="github" selected=move || kind.get() == ProviderKind::Github>"GitHub"</option>
            </select></label>
            {move || (kind.get() == ProviderKind::Oidc).then(|| view! {
                <label>"Preset"<select name="provider_preset" on:change:target=move |ev| preset.set(ProviderPreset::from_name(&ev.target().value()))>
                    <option value="" selected=move || preset.get().is_none()>"None"</option>
                    {ProviderPreset::ALL.into_iter().map(|choice| view! {
                        <option value=choice.as_str() selected=move || preset.get() == Some(choice)>{preset_label(choice)}</option>
                    }).collect_view()}
                </select></label>
            })}
            {move || {
                let oidc = kind.get() == ProviderKind::Oidc;
                let label = if oidc { "Issuer URL" } else { "GitHub Enterprise Server URL (empty for github.com)" };
                text(label, "provider_issuer", issuer, "url", oidc)
            }}
            {text("Client ID", "provider_client_id", client_id, "text", true)}
            {move || if changing() {
                text("New client secret (empty: keep the stored one)", "provider_client_secret", client_secret, "password", false)
            } else {
                text("Client secret (stored encrypted, never shown again)", "provider_client_secret", client_secret, "password", true)
            }}
            {text("E-mail domains admitted at first sign-in (e.g. acme.example)", "provider_domains", domains, "text", false)}
            {move || (kind.get() == ProviderKind::Oidc).then(|| text("Groups claim", "provider_groups_claim", groups_claim, "text", false))}
            <label>"Groups → roles, one a line (e.g. platform = operator)"
                <textarea name="provider_mappings" rows="3" prop:value=move || mappings.get()
                    on:input:target=move |ev| mappings.set(ev.target().value())></textarea></label>
            <label>"Role when no group matches"<select name="provider_default_role" on:change:target=move |ev| {
                if let Some(chosen) = BuiltinRole::from_name(&ev.target().value()) { default_role.set(chosen) }
            }>
                {BuiltinRole::ALL.into_iter().map(|r| view! {
                    <option value=r.as_str() selected=move || default_role.get() == r>{r.as_str()}</option>
                }).collect_view()}
            </select></label>
            <button class="button button--primary" type="submit">{move || if changing() { "Save the changes" } else { "Add the provider" }}</button>
            {move || changing().then(|| view! {
                <button class="button" type="button" on:click=move |_| editing.set(None)>"Cancel"</button>
            })}
        </form>
        {move || outcome.get().map(|outcome| match outcome {
            Ok(message) => view! { <p class="notice notice--ok" role="status">{message}</p> }.into_any(),
            Err(message) => view! { <p class="notice notice--error" role="alert">{message}</p> }.into_any(),
        })}
    }
}

fn preset_label(preset: ProviderPreset) -> &'static str {
    match preset {
        ProviderPreset::EntraId => "Microsoft Entra ID",
        ProviderPreset::Google => "Google",
        ProviderPreset::Okta => "Okta",
        ProviderPreset::Keycloak => "Keycloak",
    }
}

/// The policy as stored, then its form.
#[component]
fn Policy() -> impl IntoView {
    let policy = LocalResource::new(|| api::get::<SsoPolicy>("/api/v1/sso-policy"));
    move || {
        loaded(
            policy.get(),
            |policy: SsoPolicy| view! { <PolicyForm policy/> },
        )
    }
}

#[component]
fn PolicyForm(policy: SsoPolicy) -> impl IntoView {
    let required = RwSignal::new(policy.sso_required);
    let break_glass = RwSignal::new(
        policy
            .break_glass_owner
            .map(|owner| owner.0.to_string())
            .unwrap_or_default(),
    );
    let owners = LocalResource::new(|| async {
        let users = api::get::<Page<User>>("/api/v1/users?limit=200").await?;
        let bindings = api::get::<Page<RoleBinding>>("/api/v1/role-bindings?limit=200").await?;
        Ok::<_, ApiError>(
            users
                .items
                .into_iter()
                .filter(|user| {
                    bindings.items.iter().any(|binding| {
                        binding.user_id == user.id
                            && binding.role == RoleRef::Builtin(BuiltinRole::Owner)
                            && binding.project_id.is_none()
                    })
                })
                .collect::<Vec<_>>(),
        )
    });
    let outcome = RwSignal::new(None::<Result<(), ApiError>>);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let request = SsoPolicy {
            sso_required: required.get_untracked(),
            break_glass_owner: break_glass
                .get_untracked()
                .parse()
                .ok()
                .map(nimbus_api_types::ids::UserId),
        };
        spawn_local(async move {
            let saved = api::put::<_, SsoPolicy>("/api/v1/sso-policy", &request).await;
            outcome.set(Some(saved.map(drop)));
        });
    };
    view! {
        <section class="panel">
            <h2>"Policy"</h2>
            <form class="form" on:submit=submit aria-label="Single sign-on policy">
                <label class="checkbox"><input type="checkbox" name="sso_required" prop:checked=move || required.get()
                    on:change:target=move |ev| required.set(ev.target().checked())/>
                    "Require single sign-on: password sign-ins are refused (API tokens keep working)"</label>
                <label>"Break-glass Owner (keeps a password for when the provider fails)"
                    <select name="break_glass_owner" on:change:target=move |ev| break_glass.set(ev.target().value())>
                        <option value="">"Nobody"</option>
                        {move || loaded(owners.get(), move |owners: Vec<User>| view! {
                            {owners.into_iter().map(|owner| {
                                let id = owner.id.0.to_string();
                                let chosen = id.clone();
                                view! { <option value=id selected=move || break_glass.get() == chosen>{owner.email}</option> }
                            }).collect_view()}
                        })}
                    </select></label>
                <p class="hint">"Turning it on ends the tenant's password sessions, except the break-glass Owner's."</p>
                <button class="button button--primary" type="submit">"Save the policy"</button>
            </form>
            {move || outcome.get().map(|outcome| match outcome {
                Ok(()) => view! { <p class="notice notice--ok" role="status">"Saved."</p> }.into_any(),
                Err(error) => view! { <Failure error/> }.into_any(),
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_mappings, words};
    use nimbus_api_types::rbac::BuiltinRole;

    #[test]
    fn mappings_are_read_one_a_line_and_a_bad_line_is_named() {
        let parsed = parse_mappings("platform = operator\n\n acme/finops=finance \n").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[1].group, "acme/finops");
        assert_eq!(parsed[1].role, BuiltinRole::Finance);
        assert!(parse_mappings("platform").unwrap_err().contains("platform"));
        assert!(parse_mappings("a = boss").unwrap_err().contains("boss"));
    }

    #[test]
    fn words_split_on_commas_and_spaces() {
        assert_eq!(
            words("acme.example, b.example  c.example"),
            ["acme.example", "b.example", "c.example"]
        );
    }
}
