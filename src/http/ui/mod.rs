//! The admin panel: server-rendered pages over the same service layer as
//! the JSON API.
//!
//! One file per page or action (`event_types` holds the catalog's page,
//! one type's page and their actions); every route is in [`routes`]. Templates
//! live in `templates/` (one per page, all extending `base.html`), the
//! stylesheet and script in `static/`, both compiled into the binary.
//!
//! What the pages share, one concern per file: [`session`] (the session
//! and login cookies, [`session::Ctx`] — a logged-in request — and
//! blocking service calls), [`csrf`] (the `Origin` check and the tokens),
//! [`form`] (typed form bodies and query strings), [`layout`] (the page
//! frame, uncached pages, redirects), [`notice`] (the confirmations an
//! action leaves for the next page), [`error`] (error pages), [`view`]
//! (small view models), [`chart`] (the SVG charts) and [`assets`].
//!
//! **Invariants:**
//! - Handlers hold no rules and never touch the store: they call `Herald`
//!   as `Caller::Session`, exactly as the API calls it with a key.
//! - Every POST checks the `Origin` (or `Referer`) and the session's CSRF
//!   token before anything else ([`session::Ctx::form`]), and a read-only
//!   portal session's posts are refused there (403 `read_only_session`).
//! - A portal session (opened by `portal`'s one-time link) reaches only
//!   `domain::portal::PORTAL_SECTIONS`; only its answers may be framed.
//! - Everything shown is escaped by askama (`.html` templates); no
//!   template uses `|safe`. Links are rendered only for http(s) URLs.
//! - Another tenant's ids are "not found" (404), as in the API.

pub mod assets;
pub mod chart;
pub mod csrf;
pub mod error;
pub mod form;
pub mod layout;
pub mod notice;
pub mod session;
pub mod view;

mod account;
mod alerts;
mod api_reference;
mod backups;
mod charts;
mod dashboard;
mod deliveries;
mod delivery;
mod event_types;
mod keys;
mod login;
mod pause;
mod portal;
mod tenant_switch;
mod tenants;
mod users;
mod webhook;
mod webhook_actions;
mod webhook_delete;
mod webhook_new;
mod webhooks;

use actix_web::web;

use super::resource;

/// The admin panel's routes (mounted at `/`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/login")
            .route(web::get().to(login::form))
            .route(web::post().to(login::submit)),
    )
    .service(resource("/logout").route(web::post().to(login::logout)))
    .service(resource("/portal/theme.css").route(web::get().to(portal::theme)))
    .service(resource("/portal/{token}").route(web::get().to(portal::open)))
    .service(resource("/").route(web::get().to(dashboard::show)))
    .service(resource("/tenant").route(web::post().to(tenant_switch::switch)))
    .service(resource("/pause").route(web::post().to(pause::pause)))
    .service(resource("/resume").route(web::post().to(pause::resume)))
    .service(resource("/webhooks").route(web::get().to(webhooks::list)))
    .service(
        resource("/webhooks/new")
            .route(web::get().to(webhook_new::form))
            .route(web::post().to(webhook_new::create)),
    )
    .service(
        resource("/webhooks/{id}")
            .route(web::get().to(webhook::show))
            .route(web::post().to(webhook_actions::save)),
    )
    .service(resource("/webhooks/{id}/toggle").route(web::post().to(webhook_actions::toggle)))
    .service(resource("/webhooks/{id}/rotate").route(web::post().to(webhook_actions::rotate)))
    .service(resource("/webhooks/{id}/test").route(web::post().to(webhook_actions::test)))
    .service(resource("/webhooks/{id}/replay").route(web::post().to(webhook_actions::replay)))
    .service(resource("/webhooks/{id}/retry").route(web::post().to(webhook_actions::retry)))
    .service(
        resource("/webhooks/{id}/delete")
            .route(web::get().to(webhook_delete::confirm))
            .route(web::post().to(webhook_delete::delete)),
    )
    .service(resource("/deliveries").route(web::get().to(deliveries::list)))
    .service(resource("/deliveries/{id}").route(web::get().to(delivery::show)))
    .service(resource("/deliveries/{id}/resend").route(web::post().to(delivery::resend)))
    .service(
        resource("/tenants")
            .route(web::get().to(tenants::list))
            .route(web::post().to(tenants::create)),
    )
    .service(resource("/backups").route(web::get().to(backups::show)))
    .service(resource("/api-reference").route(web::get().to(api_reference::show)))
    .service(
        resource("/event-types")
            .route(web::get().to(event_types::list))
            .route(web::post().to(event_types::create)),
    )
    .service(
        resource("/event-types/{name}")
            .route(web::get().to(event_types::show))
            .route(web::post().to(event_types::save)),
    )
    .service(resource("/event-types/{name}/archive").route(web::post().to(event_types::archive)))
    .service(
        resource("/event-types/{name}/unarchive").route(web::post().to(event_types::unarchive)),
    )
    .service(resource("/event-types/{name}/delete").route(web::post().to(event_types::delete)))
    .service(resource("/backups/run").route(web::post().to(backups::run)))
    .service(resource("/tenants/suspend").route(web::post().to(tenants::suspend_form)))
    .service(resource("/tenants/resume").route(web::post().to(tenants::resume_form)))
    .service(resource("/tenants/{id}/suspend").route(web::post().to(tenants::suspend)))
    .service(resource("/tenants/{id}/resume").route(web::post().to(tenants::resume)))
    .service(
        resource("/keys")
            .route(web::get().to(keys::list))
            .route(web::post().to(keys::create)),
    )
    .service(resource("/keys/{id}/revoke").route(web::post().to(keys::revoke)))
    .service(
        resource("/users")
            .route(web::get().to(users::list))
            .route(web::post().to(users::create)),
    )
    .service(resource("/users/{name}/password").route(web::post().to(users::set_password)))
    .service(resource("/users/{name}/disable").route(web::post().to(users::disable)))
    .service(resource("/users/{name}/enable").route(web::post().to(users::enable)))
    .service(resource("/users/{name}/remove").route(web::post().to(users::remove)))
    .service(
        resource("/account")
            .route(web::get().to(account::show))
            .route(web::post().to(account::change_password)),
    )
    .service(resource("/charts/{name}").route(web::get().to(charts::show)))
    .service(resource("/alerts").route(web::get().to(alerts::show)))
    .service(resource("/static/{hash}/{file}").route(web::get().to(assets::serve)));
}
