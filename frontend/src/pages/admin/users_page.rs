use leptos::prelude::*;
use leptos::task::spawn_local;
use nimbus_api_types::identity::{
    CreatedInvitation, Invitation, NewInvitation, NewRoleBinding, Page, Role, RoleBinding, RoleRef,
    User, UserChange,
};
use nimbus_api_types::rbac::{BuiltinRole, Permission};

use crate::api::{self, ApiError};
use crate::components::{Failure, loaded, run_action};
use crate::session::use_session;

/// Members, invitations, and who holds which role.
#[component]
pub fn UsersPage() -> impl IntoView {
    let session = use_session();
    let changed = RwSignal::new(0_u32);
    let failure = RwSignal::new(None::<ApiError>);
    let bump = move || changed.update(|n| *n += 1);
    let data = LocalResource::new(move || {
        changed.track();
        async move {
            let users = api::get::<Page<User>>("/api/v1/users?limit=200").await?;
            let roles = api::get::<Vec<Role>>("/api/v1/roles").await?;
            let bindings = api::get::<Page<RoleBinding>>("/api/v1/role-bindings?limit=200").await?;
            Ok((users.items, roles, bindings.items))
        }
    });
    let act = run_action(failure, bump);
    view! {
        <h1>"Users and roles"</h1>
        {move || failure.get().map(|error| view! { <Failure error/> })}
        {move || loaded(data.get(), move |(users, roles, bindings): (Vec<User>, Vec<Role>, Vec<RoleBinding>)| {
            let can_manage = session.can(Permission::UsersManage);
            let can_bind = session.can(Permission::RolesManage);
            let role_name = {
                let roles = roles.clone();
                move |role: RoleRef| roles.iter().find(|r| r.role == role).map_or_else(|| "?".to_owned(), |r| r.name.clone())
            };
            let email_of = {
                let users = users.clone();
                move |id| users.iter().find(|u| u.id == id).map_or_else(|| id_text(id), |u| u.email.clone())
            };
            view! {
                <section class="panel">
                    <h2>"Members"</h2>
                    <table class="table" aria-label="Members">
                        <thead><tr><th scope="col">"Name"</th><th scope="col">"E-mail"</th><th scope="col">"Roles"</th><th scope="col">"State"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                        <tbody>
                            {users.iter().map(|user| {
                                let held: Vec<String> = bindings.iter().filter(|b| b.user_id == user.id)
                                    .map(|b| role_name(b.role)).collect();
                                let id = user.id;
                                let disable = !user.disabled;
                                view! {
                                    <tr>
                                        <td>{user.display_name.clone()}</td>
                                        <td>{user.email.clone()}</td>
                                        <td>{held.join(", ")}</td>
                                        <td>{if user.disabled { "disabled" } else { "active" }}</td>
                                        <td>{can_manage.then(|| view! {
                                            <button type="button" class="button" on:click=move |_| act(Box::pin(async move {
                                                api::patch::<_, User>(&format!("/api/v1/users/{}", id.0), &UserChange { disabled: Some(disable) }).await.map(drop)
                                            }))>{if disable { "Disable" } else { "Enable" }}</button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                </section>
                <section class="panel">
                    <h2>"Role bindings"</h2>
                    <table class="table" aria-label="Role bindings">
                        <thead><tr><th scope="col">"User"</th><th scope="col">"Role"</th><th scope="col">"Where"</th>
                            <th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                        <tbody>
                            {bindings.iter().map(|binding| {
                                let id = binding.id;
                                view! {
                                    <tr>
                                        <td>{email_of(binding.user_id)}</td>
                                        <td>{role_name(binding.role)}</td>
                                        <td>{if binding.project_id.is_some() { "one project" } else { "whole tenant" }}</td>
                                        <td>{can_bind.then(|| view! {
                                            <button type="button" class="button button--danger" on:click=move |_| act(Box::pin(async move {
                                                api::delete(&format!("/api/v1/role-bindings/{}", id.0)).await
                                            }))>"Remove"</button>
                                        })}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                    {can_bind.then(|| view! { <BindForm users=users.clone() roles=roles.clone() on_done=bump/> })}
                </section>
                <section class="panel">
                    <h2>"Roles"</h2>
                    <table class="table" aria-label="Roles">
                        <thead><tr><th scope="col">"Role"</th><th scope="col">"What it may do"</th></tr></thead>
                        <tbody>
                            {roles.iter().map(|role| view! {
                                <tr>
                                    <td>{role.name.clone()}{(!role.builtin).then_some(" (custom)")}<br/><small>{role.description.clone()}</small></td>
                                    <td>{role.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </section>
            }.into_any()
        })}
        {move || session.can(Permission::UsersManage).then(|| view! { <Invitations/> })}
    }
}

fn id_text(id: nimbus_api_types::ids::UserId) -> String {
    id.0.to_string()
}

#[component]
fn BindForm(
    users: Vec<User>,
    roles: Vec<Role>,
    on_done: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let user = RwSignal::new(
        users
            .first()
            .map(|u| u.id.0.to_string())
            .unwrap_or_default(),
    );
    let role = RwSignal::new(String::new());
    let failure = RwSignal::new(None::<ApiError>);
    let roles_by_key: Vec<(String, RoleRef)> =
        roles.iter().map(|r| (role_key(r.role), r.role)).collect();
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let (Ok(user_id), Some(role)) = (
            user.get_untracked().parse(),
            roles_by_key
                .iter()
                .find(|(key, _)| *key == role.get_untracked())
                .map(|(_, role)| *role),
        ) else {
            return;
        };
        let request = NewRoleBinding {
            user_id: nimbus_api_types::ids::UserId(user_id),
            role,
            project_id: None,
        };
        spawn_local(async move {
            match api::post::<_, RoleBinding>("/api/v1/role-bindings", &request).await {
                Ok(_) => {
                    failure.set(None);
                    on_done();
                }
                Err(err) => failure.set(Some(err)),
            }
        });
    };
    view! {
        <form class="form form--inline" on:submit=submit aria-label="Bind a role">
            <label>"User"<select on:change:target=move |ev| user.set(ev.target().value())>
                {users.into_iter().map(|u| view! { <option value=u.id.0.to_string()>{u.email}</option> }).collect_view()}
            </select></label>
            <label>"Role"<select required on:change:target=move |ev| role.set(ev.target().value())>
                <option value="">"Choose a role"</option>
                {roles.into_iter().map(|r| view! { <option value=role_key(r.role)>{r.name}</option> }).collect_view()}
            </select></label>
            <button class="button" type="submit">"Bind"</button>
        </form>
        {move || failure.get().map(|error| view! { <Failure error/> })}
    }
}

fn role_key(role: RoleRef) -> String {
    match role {
        RoleRef::Builtin(role) => role.as_str().to_owned(),
        RoleRef::Custom(id) => id.0.to_string(),
    }
}

#[component]
fn Invitations() -> impl IntoView {
    let changed = RwSignal::new(0_u32);
    let data = LocalResource::new(move || {
        changed.track();
        async move { api::get::<Page<Invitation>>("/api/v1/invitations?limit=100").await }
    });
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(BuiltinRole::Viewer);
    let created = RwSignal::new(None::<Result<CreatedInvitation, ApiError>>);
    let submit = move |event: leptos::ev::SubmitEvent| {
        event.prevent_default();
        let request = NewInvitation {
            email: email.get_untracked(),
            role: RoleRef::Builtin(role.get_untracked()),
            project_id: None,
        };
        spawn_local(async move {
            let outcome = api::post::<_, CreatedInvitation>("/api/v1/invitations", &request).await;
            if outcome.is_ok() {
                email.set(String::new());
                changed.update(|n| *n += 1);
            }
            created.set(Some(outcome));
        });
    };
    let revoke = move |id: nimbus_api_types::ids::InvitationId| {
        spawn_local(async move {
            if api::delete(&format!("/api/v1/invitations/{}", id.0))
                .await
                .is_ok()
            {
                changed.update(|n| *n += 1);
            }
        });
    };
    view! {
        <section class="panel">
            <h2>"Invitations"</h2>
            <form class="form form--inline" on:submit=submit aria-label="Invite someone">
                <label>"E-mail address"<input type="email" name="invite_email" required prop:value=move || email.get()
                    on:input:target=move |ev| email.set(ev.target().value())/></label>
                <label>"Role"<select name="invite_role" on:change:target=move |ev| {
                    if let Some(chosen) = BuiltinRole::from_name(&ev.target().value()) { role.set(chosen) }
                }>
                    {BuiltinRole::ALL.into_iter().map(|r| view! {
                        <option value=r.as_str() selected=move || role.get() == r>{r.as_str()}</option>
                    }).collect_view()}
                </select></label>
                <button class="button button--primary" type="submit">"Invite"</button>
            </form>
            {move || created.get().map(|outcome| match outcome {
                Ok(created) => view! {
                    <div class="notice notice--ok" role="status">
                        {if created.emailed { "The invitation is on its way by e-mail.".to_owned() } else { "No e-mail went out: pass this single-use link on yourself (it is shown only now).".to_owned() }}
                        {created.link.map(|link| view! { <code class="secret">{link}</code> })}
                    </div>
                }.into_any(),
                Err(error) => view! { <Failure error/> }.into_any(),
            })}
            {move || loaded(data.get(), move |page: Page<Invitation>| view! {
                <table class="table" aria-label="Invitations">
                    <thead><tr><th scope="col">"E-mail"</th><th scope="col">"State"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                    <tbody>
                        {page.items.into_iter().map(|invitation| {
                            let open = invitation.accepted_at.is_none() && invitation.revoked_at.is_none();
                            let state = if invitation.accepted_at.is_some() { "accepted" } else if invitation.revoked_at.is_some() { "revoked" } else { "waiting" };
                            let id = invitation.id;
                            view! {
                                <tr><td>{invitation.email}</td><td>{state}</td>
                                    <td>{open.then(|| view! { <button type="button" class="button button--danger" on:click=move |_| revoke(id)>"Revoke"</button> })}</td></tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            })}
        </section>
    }
}
