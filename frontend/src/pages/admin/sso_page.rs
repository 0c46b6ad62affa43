use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::identity::{Page, RoleBinding, RoleRef, User};
use nimbus_api_types::rbac::BuiltinRole;
use nimbus_api_types::sso::{
    IdentityProvider, IdentityProviderInput, ProviderKind, ProviderPreset, RoleMapping, SsoPolicy,
};

use crate::api::{self, ApiError};
use crate::components::{Failure, loaded};

/// The tenant's identity providers (add, turn on or off, remove) and whether it requires
/// single sign-on, with its break-glass Owner. Owners only (`identity-providers:manage`).
#[component]
pub fn SsoPage() -> impl IntoView {
    let changed = RwSignal::new(0_u32);
    let failure = RwSignal::new(None::<ApiError>);
    let bump = move || changed.update(|n| *n += 1);
    let data = LocalResource::new(move || {
        changed.track();
        api::get::<Vec<IdentityProvider>>("/api/v1/identity-providers")
    });
    let act = move |request: std::pin::Pin<Box<dyn Future<Output = Result<(), ApiError>>>>| {
        spawn_local(async move {
            match request.await {
                Ok(()) => {
                    failure.set(None);
                    bump();
                }
                Err(err) => failure.set(Some(err)),
            }
        });
    };
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
            <AddProvider on_done=bump/>
        </section>
        <Policy/>
    }
}

fn kind_label(provider: &IdentityProvider) -> &'static str {
    match (provider.kind, provider.preset) {
        (ProviderKind::Github, _) => "GitHub",
        (ProviderKind::Oidc, Some(ProviderPreset::EntraId)) => "Microsoft Entra ID",
        (ProviderKind::Oidc, Some(ProviderPreset::Google)) => "Google",
        (ProviderKind::Oidc, Some(ProviderPreset::Okta)) => "Okta",
        (ProviderKind::Oidc, Some(ProviderPreset::Keycloak)) => "Keycloak",
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

#[component]
fn AddProvider(on_done: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let kind = RwSignal::new(String::from("oidc"));
    let preset = RwSignal::new(String::new());
    let issuer = RwSignal::new(String::new());
    let client_id = RwSignal::new(String::new());
    let client_secret = RwSignal::new(String::new());
    let domains = RwSignal::new(String::new());
    let groups_claim = RwSignal::new(String::from("groups"));
    let mappings = RwSignal::new(String::new());
    let default_role = RwSignal::new(BuiltinRole::Viewer);
    let outcome = RwSignal::new(None::<Result<IdentityProvider, String>>);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let role_mappings = match parse_mappings(&mappings.get_untracked()) {
            Ok(parsed) => parsed,
            Err(message) => {
                outcome.set(Some(Err(format!("Groups → roles: {message}"))));
                return;
            }
        };
        let github = kind.get_untracked() == "github";
        let request = IdentityProviderInput {
            name: name.get_untracked().trim().to_owned(),
            kind: if github {
                ProviderKind::Github
            } else {
                ProviderKind::Oidc
            },
            preset: (!github)
                .then(|| ProviderPreset::from_name(&preset.get_untracked()))
                .flatten(),
            issuer: Some(issuer.get_untracked().trim().to_owned()).filter(|text| !text.is_empty()),
            client_id: client_id.get_untracked().trim().to_owned(),
            client_secret: Some(client_secret.get_untracked()),
            scopes: if github {
                Vec::new()
            } else {
                words("email profile groups")
            },
            groups_claim: (!github)
                .then(|| groups_claim.get_untracked().trim().to_owned())
                .filter(|claim| !claim.is_empty()),
            allowed_domains: words(&domains.get_untracked().to_lowercase()),
            role_mappings,
            default_role: Some(default_role.get_untracked()),
            enabled: true,
        };
        spawn_local(async move {
            let saved = api::post::<_, IdentityProvider>("/api/v1/identity-providers", &request)
                .await
                .map_err(|err| err.to_string());
            if saved.is_ok() {
                for field in [name, issuer, client_id, client_secret, domains, mappings] {
                    field.set(String::new());
                }
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
    view! {
        <form class="form" on:submit=submit aria-label="Add an identity provider">
            <h3>"Add a provider"</h3>
            {text("Name on the sign-in button", "provider_name", name, "text", true)}
            <label>"Kind"<select name="provider_kind" on:change:target=move |ev| kind.set(ev.target().value())>
                <option value="oidc">"OpenID Connect"</option>
                <option value="github">"GitHub"</option>
            </select></label>
            {move || (kind.get() == "oidc").then(|| view! {
                <label>"Preset"<select name="provider_preset" on:change:target=move |ev| preset.set(ev.target().value())>
                    <option value="">"None"</option>
                    <option value="entra_id">"Microsoft Entra ID"</option>
                    <option value="google">"Google"</option>
                    <option value="okta">"Okta"</option>
                    <option value="keycloak">"Keycloak"</option>
                </select></label>
            })}
            {move || {
                let label = if kind.get() == "github" { "GitHub Enterprise Server URL (empty for github.com)" } else { "Issuer URL" };
                text(label, "provider_issuer", issuer, "url", kind.get() == "oidc")
            }}
            {text("Client ID", "provider_client_id", client_id, "text", true)}
            {text("Client secret (stored encrypted, never shown again)", "provider_client_secret", client_secret, "password", true)}
            {text("E-mail domains admitted at first sign-in (e.g. acme.example)", "provider_domains", domains, "text", false)}
            {move || (kind.get() == "oidc").then(|| text("Groups claim", "provider_groups_claim", groups_claim, "text", false))}
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
            <button class="button button--primary" type="submit">"Add the provider"</button>
        </form>
        {move || outcome.get().map(|outcome| match outcome {
            Ok(provider) => view! { <p class="notice notice--ok" role="status">{format!("Added {}.", provider.name)}</p> }.into_any(),
            Err(message) => view! { <p class="notice notice--error" role="alert">{message}</p> }.into_any(),
        })}
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
