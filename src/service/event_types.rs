//! The event catalog: the built-in types and a platform's own, with their
//! JSON Schemas, and the payload check ingest runs.
//!
//! Ingest reads the catalog for every event, so it is held in memory as
//! one immutable snapshot ([`EventTypes`]: the [`Catalog`] and each
//! custom type's compiled schema) behind an `Arc`, swapped whole after
//! every change: the hot path clones an `Arc` under a read lock and never
//! reads the store. It is loaded from the store on first use. Changes are
//! serialised by a mutex of their own (a person makes them), written to
//! the store, and then the snapshot is rebuilt from the store, reusing
//! every compiled schema whose type has not changed (same name and
//! `updated_at`), so a schema is compiled once per version.
//!
//! What a schema describes: a native event's `data` (`{"object": {…}}`,
//! the value under `data` in the envelope receivers get); through the
//! Svix-compatible API, the message's `payload` ([`Herald::validate_payload`]
//! checks either). Test events Herald makes itself are not checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use serde::Deserialize;
use serde_json::Value;

use super::{Caller, Herald, Result, ServiceError};
use crate::domain::event_type::{
    validate_description, validate_name, Catalog, CustomEventType, Entry,
};
use crate::domain::schema::{compile_text, validate_schema, Schema};
use crate::domain::time::Timestamp;

/// One snapshot of the catalog with the compiled schemas.
#[derive(Debug, Default)]
pub struct EventTypes {
    catalog: Catalog,
    /// Custom type name → (its `updated_at`, its compiled schema).
    schemas: HashMap<String, (Timestamp, Arc<Schema>)>,
}

impl EventTypes {
    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The compiled schema of `event_type`, if it has one.
    fn schema(&self, event_type: &str) -> Option<&Schema> {
        self.schemas.get(event_type).map(|(_, s)| s.as_ref())
    }

    /// Checks `payload` against `event_type`'s schema (`at` prefixes the
    /// message, e.g. `events[3]: `; `what` names the payload).
    pub(super) fn check(
        &self,
        event_type: &str,
        payload: &Value,
        at: &str,
        what: &'static str,
    ) -> Result<()> {
        let Some(schema) = self.schema(event_type) else {
            return Ok(());
        };
        schema
            .check(payload)
            .map_err(|m| ServiceError::SchemaMismatch {
                at: at.to_string(),
                what,
                event_type: event_type.to_string(),
                path: m.path,
                message: m.message,
            })
    }

    /// A snapshot of `types`, compiling each schema unless `previous`
    /// holds it at the same `updated_at`.
    fn build(types: Vec<CustomEventType>, previous: Option<&EventTypes>) -> Self {
        let mut schemas = HashMap::new();
        for t in &types {
            let Some(text) = &t.schema else { continue };
            let reused = previous
                .and_then(|p| p.schemas.get(&t.name))
                .filter(|(at, _)| *at == t.updated_at)
                .map(|(_, s)| s.clone());
            let compiled = match reused {
                Some(s) => s,
                None => match compile_text(text) {
                    Ok(s) => Arc::new(s),
                    Err(e) => {
                        // It compiled when it was stored; a build that no
                        // longer compiles it checks nothing rather than
                        // refusing every event of the type.
                        log::error!("event type {:?}: stored schema {e}; not checked", t.name);
                        continue;
                    }
                },
            };
            schemas.insert(t.name.clone(), (t.updated_at, compiled));
        }
        Self {
            catalog: Catalog::new(types),
            schemas,
        }
    }
}

/// The snapshot and the lock that serialises changes.
#[derive(Default)]
pub(super) struct Registry {
    snapshot: RwLock<Option<Arc<EventTypes>>>,
    writes: Mutex<()>,
    /// When the snapshot was read from the store (unix ms).
    loaded_ms: std::sync::atomic::AtomicI64,
}

/// On a store several nodes share, another node may change the catalog:
/// a snapshot older than this is read again.
const SHARED_REFRESH_MS: i64 = 5_000;

/// An event type as the API and the panel show it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTypeInfo {
    /// Its name.
    pub name: String,
    /// The part of the name before its first `.`.
    pub category: String,
    /// What it means.
    pub description: String,
    /// A platform's own type (`false`: built in).
    pub custom: bool,
    /// Not offered for new subscriptions in the panel.
    pub archived: bool,
    /// Its JSON Schema, if it has one.
    pub schema: Option<Value>,
    /// When it was created (`None` for built-in types).
    pub created_at: Option<Timestamp>,
    /// When it last changed (`None` for built-in types).
    pub updated_at: Option<Timestamp>,
}

impl EventTypeInfo {
    fn of(e: Entry<'_>) -> Self {
        Self {
            name: e.name.to_string(),
            category: e.category.to_string(),
            description: e.description.to_string(),
            custom: e.custom.is_some(),
            archived: e.archived(),
            schema: e
                .custom
                .and_then(|c| c.schema.as_deref())
                .and_then(|s| serde_json::from_str(s).ok()),
            created_at: e.custom.map(|c| c.created_at),
            updated_at: e.custom.map(|c| c.updated_at),
        }
    }
}

/// `POST /api/v1/event-types`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEventType {
    /// `[A-Za-z0-9_.-]`, at most 256 bytes, not a built-in type's name.
    pub name: String,
    /// What it means.
    #[serde(default)]
    pub description: Option<String>,
    /// A JSON Schema for its events' `data` (a JSON object), or null.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Value>,
    /// Defaults to false.
    #[serde(default)]
    pub archived: Option<bool>,
}

/// `PATCH /api/v1/event-types/{name}`: only the fields present change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTypePatch {
    /// A new description.
    pub description: Option<String>,
    /// A new schema; `null` removes it (absent: unchanged).
    #[serde(default, deserialize_with = "super::nullable")]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Option<Value>>,
    /// Archive or unarchive.
    pub archived: Option<bool>,
}

/// `null` means no schema.
fn schema_text(schema: Option<&Value>) -> Result<Option<String>> {
    match schema {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(Some(validate_schema(v)?)),
    }
}

impl Herald {
    /// The catalog snapshot (loaded from the store on first use; an `Arc`
    /// clone after that).
    pub fn event_types(&self) -> Result<Arc<EventTypes>> {
        let registry = &self.event_types;
        let fresh = || {
            self.store.cluster().is_none()
                || self.clock.now().as_millis()
                    - registry
                        .loaded_ms
                        .load(std::sync::atomic::Ordering::Relaxed)
                    < SHARED_REFRESH_MS
        };
        let current = || {
            registry
                .snapshot
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        };
        let previous = current();
        if let Some(s) = previous.as_ref().filter(|_| fresh()) {
            return Ok(s.clone());
        }
        let _w = registry.writes.lock().unwrap_or_else(|e| e.into_inner());
        // Another caller may have loaded it while this one waited.
        let previous = current();
        if let Some(s) = previous.as_ref().filter(|_| fresh()) {
            return Ok(s.clone());
        }
        self.reload_event_types(previous.as_deref())
    }

    /// Rebuilds the snapshot from the store (the write lock held).
    fn reload_event_types(&self, previous: Option<&EventTypes>) -> Result<Arc<EventTypes>> {
        let now = self.clock.now();
        let types = self.store.list_event_types()?;
        let fresh = Arc::new(EventTypes::build(types, previous));
        self.event_types
            .loaded_ms
            .store(now.as_millis(), std::sync::atomic::Ordering::Relaxed);
        *self
            .event_types
            .snapshot
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }

    /// Checks a payload against `event_type`'s schema: `UnknownEventType`
    /// if the catalog has no such type, `SchemaMismatch` (naming the JSON
    /// path and why) if it does not match. For the Svix-compatible API,
    /// whose message payload is what the schema describes.
    pub fn validate_payload(&self, event_type: &str, payload: &Value) -> Result<()> {
        let types = self.event_types()?;
        if !types.catalog().contains(event_type) {
            return Err(ServiceError::UnknownEventType(event_type.to_string()));
        }
        types.check(event_type, payload, "", "payload")
    }

    /// Every event type, built-in ones first; any valid key or session.
    pub fn list_event_types(&self, caller: &Caller) -> Result<Vec<EventTypeInfo>> {
        self.authenticate(caller)?;
        let types = self.event_types()?;
        Ok(types.catalog().entries().map(EventTypeInfo::of).collect())
    }

    /// One event type; any valid key or session.
    pub fn get_event_type(&self, caller: &Caller, name: &str) -> Result<EventTypeInfo> {
        self.authenticate(caller)?;
        let types = self.event_types()?;
        types
            .catalog()
            .entry(name)
            .map(EventTypeInfo::of)
            .ok_or(ServiceError::NotFound("event type"))
    }

    /// Creates a custom type; platform keys and operators only.
    pub fn create_event_type(&self, caller: &Caller, input: NewEventType) -> Result<EventTypeInfo> {
        self.require_platform(caller)?;
        validate_name(&input.name)?;
        let description = input.description.unwrap_or_default();
        validate_description(&description)?;
        let schema = schema_text(input.schema.as_ref())?;
        let previous = self.event_types()?;
        let _w = self
            .event_types
            .writes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if crate::domain::event_type::lookup(&input.name).is_some() {
            return Err(ServiceError::EventTypeExists {
                name: input.name,
                built_in: true,
            });
        }
        let now = self.clock.now();
        let t = CustomEventType {
            name: input.name,
            description,
            schema,
            archived: input.archived.unwrap_or(false),
            created_at: now,
            updated_at: now,
        };
        if !self.store.insert_event_type(&t)? {
            return Err(ServiceError::EventTypeExists {
                name: t.name,
                built_in: false,
            });
        }
        log::info!("event type {:?} created", t.name);
        let types = self.reload_event_types(Some(&previous))?;
        Self::info_of(&types, &t.name)
    }

    fn info_of(types: &EventTypes, name: &str) -> Result<EventTypeInfo> {
        types
            .catalog()
            .entry(name)
            .map(EventTypeInfo::of)
            .ok_or(ServiceError::NotFound("event type"))
    }

    /// The custom type `name` for a change: built-in ones are refused.
    fn custom_for_change(&self, name: &str) -> Result<CustomEventType> {
        if crate::domain::event_type::lookup(name).is_some() {
            return Err(ServiceError::BuiltInEventType(name.to_string()));
        }
        self.store
            .event_type(name)?
            .ok_or(ServiceError::NotFound("event type"))
    }

    /// Changes a custom type's description, schema or archived flag;
    /// platform keys and operators only.
    pub fn update_event_type(
        &self,
        caller: &Caller,
        name: &str,
        patch: EventTypePatch,
    ) -> Result<EventTypeInfo> {
        self.require_platform(caller)?;
        if let Some(d) = &patch.description {
            validate_description(d)?;
        }
        let schema = match &patch.schema {
            None => None,
            Some(s) => Some(schema_text(s.as_ref())?),
        };
        let previous = self.event_types()?;
        let _w = self
            .event_types
            .writes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut t = self.custom_for_change(name)?;
        if let Some(d) = patch.description {
            t.description = d;
        }
        if let Some(s) = schema {
            t.schema = s;
        }
        if let Some(a) = patch.archived {
            t.archived = a;
        }
        // Strictly later, so the compiled schema cached under the old
        // time is never taken for the new one.
        t.updated_at = self.clock.now().max(t.updated_at.plus_millis(1));
        self.store.put_event_type(&t)?;
        log::info!("event type {:?} updated", t.name);
        let types = self.reload_event_types(Some(&previous))?;
        Self::info_of(&types, &t.name)
    }

    /// Removes a custom type; platform keys and operators only. Events
    /// of it are refused from then on (`unknown_event_type`); endpoints
    /// that name it keep their subscription, which matches nothing.
    pub fn delete_event_type(&self, caller: &Caller, name: &str) -> Result<()> {
        self.require_platform(caller)?;
        let previous = self.event_types()?;
        let _w = self
            .event_types
            .writes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        self.custom_for_change(name)?;
        self.store.delete_event_type(name)?;
        log::info!("event type {name:?} deleted");
        self.reload_event_types(Some(&previous))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::service::events::RawEvent;
    use crate::service::Settings;
    use serde_json::json;

    fn herald() -> (Herald, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
        let settings = Settings {
            max_event_size: 1 << 20,
            ..Settings::offline()
        };
        let h = Herald::new(crate::store::temporary(), clock.clone(), settings);
        (h, clock)
    }

    fn create(h: &Herald, name: &str, schema: Option<Value>) -> EventTypeInfo {
        let local = Caller::Local { tenant: None };
        let input = NewEventType {
            name: name.into(),
            description: None,
            schema,
            archived: None,
        };
        h.create_event_type(&local, input).unwrap()
    }

    #[test]
    fn payloads_are_checked_and_schemas_compiled_once_per_version() {
        let (h, _clock) = herald();
        let local = Caller::Local { tenant: None };
        let schema = json!({"type": "object", "required": ["amount"]});
        create(&h, "invoice.paid", Some(schema));
        assert!(h
            .validate_payload("invoice.paid", &json!({"amount": 1}))
            .is_ok());
        let e = h.validate_payload("invoice.paid", &json!({})).unwrap_err();
        assert_eq!(e.code(), "schema_mismatch");
        assert_eq!(e.field(), Some("payload"));
        assert!(e.to_string().contains("at /: "), "{e}");
        assert!(h.validate_payload("payment.failed", &json!([])).is_ok());
        let unknown = h.validate_payload("nope", &json!({})).unwrap_err();
        assert_eq!(unknown.code(), "unknown_event_type");

        // Another type's change keeps the compiled schema; its own makes a
        // new one (strictly later, even on a clock that did not move).
        let before = h.event_types().unwrap();
        create(&h, "invoice.voided", None);
        let after = h.event_types().unwrap();
        assert!(!Arc::ptr_eq(&before, &after), "a new snapshot");
        let compiled = |t: &EventTypes| t.schemas["invoice.paid"].1.clone();
        assert!(Arc::ptr_eq(&compiled(&before), &compiled(&after)));
        let patch = EventTypePatch {
            archived: Some(true),
            ..Default::default()
        };
        let t = h.update_event_type(&local, "invoice.paid", patch).unwrap();
        assert!(t.updated_at > t.created_at);
        let changed = h.event_types().unwrap();
        assert!(!Arc::ptr_eq(&compiled(&after), &compiled(&changed)));

        // A Svix-style raw event is checked whole, in a batch by index.
        let mut batch = h
            .batch_ingest(
                &Caller::Local {
                    tenant: Some("acme".into()),
                },
                2,
                None,
            )
            .unwrap();
        let raw = |payload| RawEvent {
            event_type: "invoice.paid".into(),
            payload,
            id: None,
            channels: vec![],
            tags: vec![],
        };
        batch.add_raw(raw(json!({"amount": 2}))).unwrap();
        let e = batch.add_raw(raw(json!({"x": 1}))).err().unwrap();
        assert!(e.to_string().starts_with("events[1]: payload"), "{e}");
    }
}
