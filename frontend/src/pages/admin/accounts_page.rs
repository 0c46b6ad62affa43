use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::clouds::{
    AccountStatus, AlibabaSettings, AwsSettings, AzureSettings, CloudAccount, CloudAccountInput,
    CloudCredentials, CloudProvider, CloudSettings, ConnectionTest, GcpSettings,
    KubernetesSettings, SyncJob,
};
use nimbus_api_types::rbac::Permission;

use crate::api::{self, ApiError};
use crate::clock;
use crate::components::{Empty, Failure, loaded};
use crate::format;
use crate::session::use_session;

/// Cloud accounts: where each stands, test and sync now, and a form per provider to connect one.
#[component]
pub fn AccountsPage() -> impl IntoView {
    let session = use_session();
    let changed = RwSignal::new(0_u32);
    let data = LocalResource::new(move || {
        session.inventory_changes.track();
        changed.track();
        async move { api::get::<Vec<CloudAccount>>("/api/v1/cloud-accounts").await }
    });
    let outcome = RwSignal::new(None::<Result<String, ApiError>>);
    let tested = RwSignal::new(None::<(String, ConnectionTest)>);
    let test = move |account: CloudAccount| {
        outcome.set(None);
        spawn_local(async move {
            let path = format!("/api/v1/cloud-accounts/{}/test", account.id.0);
            match api::post::<_, ConnectionTest>(&path, &()).await {
                Ok(test) => tested.set(Some((account.name, test))),
                Err(err) => outcome.set(Some(Err(err))),
            }
        });
    };
    let sync = move |account: CloudAccount| {
        tested.set(None);
        spawn_local(async move {
            let path = format!("/api/v1/cloud-accounts/{}/syncs", account.id.0);
            outcome.set(Some(api::post::<_, SyncJob>(&path, &()).await.map(|_| {
                format!(
                    "A sync of {} is queued; this page updates when it ends.",
                    account.name
                )
            })));
        });
    };
    view! {
        <h1>"Cloud accounts"</h1>
        {move || outcome.get().map(|outcome| match outcome {
            Ok(message) => view! { <p class="notice notice--ok" role="status">{message}</p> }.into_any(),
            Err(error) => view! { <Failure error/> }.into_any(),
        })}
        {move || tested.get().map(|(name, test)| view! {
            <section class="panel" aria-label="Connection test">
                <h2>"Test of "{name}": "{if test.ok { "everything works" } else { "something is missing" }}</h2>
                {test.identity.map(|identity| view! { <p>"Signed in as "<code>{identity}</code></p> })}
                <ul class="list">
                    {test.checks.into_iter().map(|check| view! {
                        <li>{if check.ok { "✓ " } else { "✗ " }}{check.action}
                            {check.message.map(|message| format!(" — {message}"))}</li>
                    }).collect_view()}
                </ul>
            </section>
        })}
        {move || loaded(data.get(), move |accounts: Vec<CloudAccount>| {
            if accounts.is_empty() {
                return view! { <Empty message="No cloud accounts yet.">"Connect your first cloud account with the form below."</Empty> }.into_any();
            }
            let now = clock::now();
            let can_write = session.can(Permission::CloudsWrite);
            view! {
                <table class="table" aria-label="Cloud accounts">
                    <thead><tr>
                        <th scope="col">"Name"</th><th scope="col">"Provider"</th><th scope="col">"Status"</th>
                        <th scope="col">"Last contact"</th><th scope="col">"Syncs every"</th>
                        <th scope="col"><span class="visually-hidden">"Actions"</span></th>
                    </tr></thead>
                    <tbody>
                        {accounts.into_iter().map(|account| {
                            let (for_test, for_sync) = (account.clone(), account.clone());
                            view! {
                                <tr>
                                    <td>{account.name.clone()}</td>
                                    <td>{account.provider.as_str()}</td>
                                    <td><span class=status_class(account.status)>{account.status.as_str()}</span>
                                        {account.status_reason.clone().map(|reason| view! { <br/><small>{reason}</small> })}</td>
                                    <td>{account.last_contact_at.map_or_else(|| "never".to_owned(), |at| format::age(at, now))}</td>
                                    <td>{account.sync_interval_minutes}" min"</td>
                                    <td>{can_write.then(|| view! {
                                        <button type="button" class="button" aria-label=format!("Test {}", account.name)
                                            on:click=move |_| test(for_test.clone())>"Test"</button>
                                        " "
                                        <button type="button" class="button" aria-label=format!("Sync {} now", account.name)
                                            on:click=move |_| sync(for_sync.clone())>"Sync now"</button>
                                    })}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        })}
        {move || session.can(Permission::CloudsWrite).then(|| view! { <ConnectForm on_connected=move || changed.update(|n| *n += 1)/> })}
    }
}

fn status_class(status: AccountStatus) -> &'static str {
    match status {
        AccountStatus::Connected => "badge badge--ok",
        AccountStatus::Pending | AccountStatus::Degraded => "badge badge--warn",
        AccountStatus::Paused | AccountStatus::Lost => "badge badge--bad",
    }
}

/// The connect form's fields; which ones count depends on the provider.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountForm {
    pub name: String,
    /// AWS and Alibaba regions, Azure subscriptions or Google projects: comma-separated.
    pub scopes: String,
    /// AWS role ARN, Azure directory id, Kubernetes region.
    pub locator: String,
    /// Access key id / client id.
    pub key_id: String,
    /// Secret access key / client secret / service-account key JSON / kubeconfig.
    pub secret: String,
    /// Also list the managed clusters' nodes, namespaces and workloads (cloud providers).
    pub cluster_contents: bool,
}

fn list(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|text| !text.is_empty())
}

/// The form as a connect request, or what is missing, in words.
pub fn account_input(
    provider: CloudProvider,
    form: &AccountForm,
) -> Result<CloudAccountInput, String> {
    let required =
        |value: &str, what: &str| optional(value).ok_or_else(|| format!("Enter the {what}."));
    let name = required(&form.name, "account's name")?;
    let (settings, credentials) = match provider {
        CloudProvider::Aws => (
            CloudSettings::Aws(AwsSettings {
                role_arn: optional(&form.locator),
                regions: Some(list(&form.scopes))
                    .filter(|r| !r.is_empty())
                    .ok_or("Enter at least one region.")?,
                endpoint_url: None,
                bill_export: None,
                cluster_contents: form.cluster_contents,
            }),
            CloudCredentials::AwsAccessKey {
                access_key_id: required(&form.key_id, "access key id")?,
                secret_access_key: required(&form.secret, "secret access key")?,
            },
        ),
        CloudProvider::Azure => (
            CloudSettings::Azure(AzureSettings {
                directory_id: required(&form.locator, "directory (tenant) id")?,
                subscription_ids: Some(list(&form.scopes))
                    .filter(|s| !s.is_empty())
                    .ok_or("Enter at least one subscription id.")?,
                authority_url: None,
                resource_manager_url: None,
                bill_export: None,
                cluster_contents: form.cluster_contents,
            }),
            CloudCredentials::AzureClientSecret {
                client_id: required(&form.key_id, "client (application) id")?,
                client_secret: required(&form.secret, "client secret")?,
            },
        ),
        CloudProvider::Gcp => (
            CloudSettings::Gcp(GcpSettings {
                project_ids: list(&form.scopes),
                endpoint_url: None,
                bill_export: None,
                cluster_contents: form.cluster_contents,
            }),
            CloudCredentials::GcpServiceAccountKey {
                key: required(&form.secret, "service account key (JSON)")?,
            },
        ),
        CloudProvider::Alibaba => (
            CloudSettings::Alibaba(AlibabaSettings {
                regions: Some(list(&form.scopes))
                    .filter(|r| !r.is_empty())
                    .ok_or("Enter at least one region.")?,
                endpoint_url: None,
                cluster_contents: form.cluster_contents,
            }),
            CloudCredentials::AlibabaAccessKey {
                access_key_id: required(&form.key_id, "AccessKey id")?,
                access_key_secret: required(&form.secret, "AccessKey secret")?,
            },
        ),
        CloudProvider::Kubernetes => (
            CloudSettings::Kubernetes(KubernetesSettings {
                api_server: None,
                ca_certificate: None,
                region: optional(&form.locator),
            }),
            CloudCredentials::Kubeconfig {
                kubeconfig: required(&form.secret, "kubeconfig")?,
                context: None,
            },
        ),
    };
    Ok(CloudAccountInput {
        name,
        project_id: None,
        settings,
        credentials: Some(credentials),
        sync_interval_minutes: None,
    })
}

/// Labels of the form's fields for a provider: (scopes, locator, key id, secret); `None` hides
/// the field.
fn labels(provider: CloudProvider) -> [Option<&'static str>; 4] {
    match provider {
        CloudProvider::Aws => [
            Some("Regions (e.g. eu-west-1, us-east-1)"),
            Some("Role ARN to assume (recommended)"),
            Some("Access key id"),
            Some("Secret access key"),
        ],
        CloudProvider::Azure => [
            Some("Subscription ids"),
            Some("Directory (tenant) id"),
            Some("Client (application) id"),
            Some("Client secret"),
        ],
        CloudProvider::Gcp => [
            Some("Project ids (default: the key's project)"),
            None,
            None,
            Some("Service account key (JSON)"),
        ],
        CloudProvider::Alibaba => [
            Some("Regions (e.g. cn-hangzhou)"),
            None,
            Some("AccessKey id"),
            Some("AccessKey secret"),
        ],
        CloudProvider::Kubernetes => [
            None,
            Some("Where it runs (shown as its region)"),
            None,
            Some("Kubeconfig"),
        ],
    }
}

#[component]
fn ConnectForm(on_connected: impl Fn() + Copy + Send + Sync + 'static) -> impl IntoView {
    let provider = RwSignal::new(CloudProvider::Kubernetes);
    let form = RwSignal::new(AccountForm::default());
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let input = match account_input(provider.get_untracked(), &form.get_untracked()) {
            Ok(input) => input,
            Err(problem) => return outcome.set(Some(Err(problem))),
        };
        spawn_local(async move {
            match api::post::<_, CloudAccount>("/api/v1/cloud-accounts", &input).await {
                Ok(account) => {
                    outcome.set(Some(Ok(format!(
                        "{} is connected; its first sync is queued.",
                        account.name
                    ))));
                    form.set(AccountForm::default());
                    on_connected();
                }
                Err(err) => outcome.set(Some(Err(err.to_string()))),
            }
        });
    };
    let field = move |index: usize,
                      get: fn(&AccountForm) -> String,
                      set: fn(&mut AccountForm, String),
                      multiline: bool| {
        move || {
            labels(provider.get())[index].map(|label| {
                let input = if multiline {
                    view! { <textarea rows="6" required=index == 3 prop:value=move || form.with(get)
                        on:input:target=move |ev| form.update(|form| set(form, ev.target().value()))></textarea> }.into_any()
                } else {
                    view! { <input type=if index == 3 { "password" } else { "text" } autocomplete="off"
                        prop:value=move || form.with(get)
                        on:input:target=move |ev| form.update(|form| set(form, ev.target().value()))/> }.into_any()
                };
                view! { <label>{label}{input}</label> }
            })
        }
    };
    let secret_is_text = move || {
        matches!(
            provider.get(),
            CloudProvider::Gcp | CloudProvider::Kubernetes
        )
    };
    view! {
        <section class="panel">
            <h2>"Connect an account"</h2>
            <form class="form" on:submit=submit aria-label="Connect an account">
                <label>"Provider"
                    <select name="provider" on:change:target=move |ev| {
                        if let Some(chosen) = CloudProvider::from_name(&ev.target().value()) { provider.set(chosen) }
                    }>
                        {CloudProvider::ALL.into_iter().map(|p| view! {
                            <option value=p.as_str() selected=move || provider.get() == p>{p.as_str()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>"Name"<input type="text" name="account_name" required prop:value=move || form.with(|f| f.name.clone())
                    on:input:target=move |ev| form.update(|f| f.name = ev.target().value())/></label>
                {field(0, |f| f.scopes.clone(), |f, v| f.scopes = v, false)}
                {field(1, |f| f.locator.clone(), |f, v| f.locator = v, false)}
                {field(2, |f| f.key_id.clone(), |f, v| f.key_id = v, false)}
                {move || if secret_is_text() {
                    field(3, |f| f.secret.clone(), |f, v| f.secret = v, true).into_any()
                } else {
                    field(3, |f| f.secret.clone(), |f, v| f.secret = v, false).into_any()
                }}
                {move || (provider.get() != CloudProvider::Kubernetes).then(|| view! {
                    <label class="checkbox"><input type="checkbox" name="cluster_contents"
                        prop:checked=move || form.with(|f| f.cluster_contents)
                        on:change:target=move |ev| form.update(|f| f.cluster_contents = ev.target().checked())/>
                        "Also list each cluster's nodes, namespaces and workloads (the clusters must grant this identity read access)"</label>
                })}
                <p class="hint">"The credential is stored encrypted and never shown again."</p>
                <button class="button button--primary" type="submit">"Connect"</button>
            </form>
            {move || outcome.get().map(|outcome| match outcome {
                Ok(message) => view! { <p class="notice notice--ok" role="status">{message}</p> }.into_any(),
                Err(message) => view! { <p class="notice notice--error" role="alert">{message}</p> }.into_any(),
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(scopes: &str, locator: &str, key_id: &str, secret: &str) -> AccountForm {
        AccountForm {
            name: "prod".into(),
            scopes: scopes.into(),
            locator: locator.into(),
            key_id: key_id.into(),
            secret: secret.into(),
            cluster_contents: false,
        }
    }

    #[test]
    fn each_provider_builds_its_settings_and_credential() {
        let aws = account_input(
            CloudProvider::Aws,
            &form(
                "eu-west-1, us-east-1",
                "arn:aws:iam::1:role/nimbus",
                "AKIA",
                "s3cret",
            ),
        )
        .unwrap();
        let CloudSettings::Aws(settings) = aws.settings else {
            panic!("{aws:?}")
        };
        assert_eq!(settings.regions, ["eu-west-1", "us-east-1"]);
        assert_eq!(
            settings.role_arn.as_deref(),
            Some("arn:aws:iam::1:role/nimbus")
        );
        assert_eq!(aws.credentials.unwrap().provider(), CloudProvider::Aws);

        let k8s = account_input(
            CloudProvider::Kubernetes,
            &form("", "", "", "apiVersion: v1"),
        )
        .unwrap();
        assert!(matches!(
            k8s.credentials,
            Some(CloudCredentials::Kubeconfig { .. })
        ));
        let gcp = account_input(CloudProvider::Gcp, &form("", "", "", "{}")).unwrap();
        assert!(matches!(gcp.settings, CloudSettings::Gcp(ref s) if s.project_ids.is_empty()));
    }

    #[test]
    fn missing_fields_are_named() {
        let err = account_input(CloudProvider::Azure, &form("sub-1", "", "client", "secret"))
            .unwrap_err();
        assert!(err.contains("directory"), "{err}");
        let err = account_input(CloudProvider::Alibaba, &form("", "", "id", "secret")).unwrap_err();
        assert!(err.contains("region"), "{err}");
        let mut nameless = form("r", "", "id", "secret");
        nameless.name = " ".into();
        assert!(
            account_input(CloudProvider::Alibaba, &nameless)
                .unwrap_err()
                .contains("name")
        );
    }
}
