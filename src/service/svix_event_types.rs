//! Svix's event types over Herald's catalog, for the Svix-compatible API
//! (`/api/v1/event-type…`).
//!
//! The mapping (its rules are here, not in the HTTP layer):
//! - an event type is a catalog entry, built in or the platform's own;
//!   lists are by name, built-in types included (they answer a fixed
//!   `createdAt`/`updatedAt` of 2024-01-01, the seed's `api_version`, and
//!   cannot be changed or removed: 409 `built_in_event_type`);
//! - Svix's `schemas` is a map of version to schema; Herald keeps one
//!   schema per type, so it takes a map with exactly one entry and answers
//!   it as version `"1"`;
//! - `deprecated`, `featureFlag` and `groupName` are not kept by Herald: a
//!   request setting them (true, non-null) is refused with a 422 rather
//!   than stored and ignored;
//! - `DELETE` archives, as Svix does; `?expunge=true` removes the type.

use serde::Deserialize;
use serde_json::Value;

use super::svix::{page_sorted, ListPage, Listed, Order};
use super::{Caller, EventTypeInfo, EventTypePatch, Herald, NewEventType, Result, ServiceError};

/// Svix's `EventTypeIn` (create) and `EventTypeUpdate` (replace, where
/// `name` comes from the path).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SvixEventTypeIn {
    /// The type's name (create only; a replace takes the path's).
    #[serde(default)]
    pub name: Option<String>,
    /// What it means.
    pub description: String,
    /// Not offered for new subscriptions.
    #[serde(default)]
    pub archived: Option<bool>,
    /// Refused when true.
    #[serde(default)]
    pub deprecated: Option<bool>,
    /// Version → JSON Schema; at most one.
    #[serde(default)]
    pub schemas: Option<Value>,
    /// Refused when set.
    #[serde(default)]
    pub feature_flag: Option<String>,
    /// Refused when not empty.
    #[serde(default)]
    pub feature_flags: Option<Vec<String>>,
    /// Refused when set.
    #[serde(default)]
    pub group_name: Option<String>,
}

/// Svix's `EventTypePatch`: only the fields present change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SvixEventTypePatch {
    /// A new description.
    #[serde(default)]
    pub description: Option<String>,
    /// Archive or unarchive.
    #[serde(default)]
    pub archived: Option<bool>,
    /// Refused when true.
    #[serde(default)]
    pub deprecated: Option<bool>,
    /// New schemas; `null` removes the schema.
    #[serde(default, deserialize_with = "super::nullable")]
    pub schemas: Option<Option<Value>>,
    /// Refused when set.
    #[serde(default, deserialize_with = "super::nullable")]
    pub feature_flag: Option<Option<String>>,
    /// Refused when not empty.
    #[serde(default)]
    pub feature_flags: Option<Vec<String>>,
    /// Refused when set.
    #[serde(default, deserialize_with = "super::nullable")]
    pub group_name: Option<Option<String>>,
}

/// The one schema of Svix's `schemas` map (`null` or `{}`: none).
pub fn one_schema(schemas: Option<&Value>) -> Result<Option<Value>> {
    match schemas {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.is_empty() => Ok(None),
        Some(Value::Object(m)) if m.len() == 1 => Ok(m.values().next().cloned()),
        Some(Value::Object(_)) => Err(ServiceError::invalid(
            "schemas",
            "Herald keeps one schema per event type: give one version, e.g. {\"1\": {…}}",
        )),
        Some(_) => Err(ServiceError::invalid(
            "schemas",
            "must be an object of version to JSON Schema, e.g. {\"1\": {…}}",
        )),
    }
}

/// Refuses what Herald does not keep (see the module's rules).
fn refuse_unkept(
    deprecated: Option<bool>,
    feature_flag: Option<&str>,
    feature_flags: Option<&[String]>,
    group_name: Option<&str>,
) -> Result<()> {
    if feature_flags.is_some_and(|f| !f.is_empty()) {
        return Err(ServiceError::invalid(
            "featureFlags",
            "Herald has no feature flags on event types",
        ));
    }
    if deprecated == Some(true) {
        return Err(ServiceError::invalid(
            "deprecated",
            "Herald does not mark event types deprecated; archive it instead",
        ));
    }
    if feature_flag.is_some() {
        return Err(ServiceError::invalid(
            "featureFlag",
            "Herald has no feature flags on event types",
        ));
    }
    if group_name.is_some() {
        return Err(ServiceError::invalid(
            "groupName",
            "Herald groups event types by the part of the name before the first \".\"",
        ));
    }
    Ok(())
}

/// The query of the list.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventTypeListing {
    /// Archived types too.
    pub include_archived: bool,
}

impl Herald {
    /// Svix's event-type list: by name, archived ones only when asked.
    pub fn svix_list_event_types(
        &self,
        caller: &Caller,
        page: &ListPage,
        listing: EventTypeListing,
    ) -> Result<Listed<EventTypeInfo>> {
        let mut all: Vec<EventTypeInfo> = self
            .list_event_types(caller)?
            .into_iter()
            .filter(|t| listing.include_archived || !t.archived)
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(page_sorted(all, page, Order::Ascending, |t| t.name.clone()))
    }

    /// Svix's create: 409 `event_type_exists` when the name is taken.
    pub fn svix_create_event_type(
        &self,
        caller: &Caller,
        input: SvixEventTypeIn,
    ) -> Result<EventTypeInfo> {
        refuse_unkept(
            input.deprecated,
            input.feature_flag.as_deref(),
            input.feature_flags.as_deref(),
            input.group_name.as_deref(),
        )?;
        let Some(name) = input.name else {
            return Err(ServiceError::invalid("name", "is required"));
        };
        let schema = one_schema(input.schemas.as_ref())?;
        self.create_event_type(
            caller,
            NewEventType {
                name,
                description: Some(input.description),
                schema,
                archived: input.archived,
            },
        )
    }

    /// Svix's replace: every field as given (no schema when none is
    /// given), creating the type if there is none (`true`: created).
    pub fn svix_put_event_type(
        &self,
        caller: &Caller,
        name: &str,
        input: SvixEventTypeIn,
    ) -> Result<(EventTypeInfo, bool)> {
        refuse_unkept(
            input.deprecated,
            input.feature_flag.as_deref(),
            input.feature_flags.as_deref(),
            input.group_name.as_deref(),
        )?;
        let schema = one_schema(input.schemas.as_ref())?;
        match self.get_event_type(caller, name) {
            Ok(_) => {
                let patch = EventTypePatch {
                    description: Some(input.description),
                    schema: Some(schema),
                    archived: Some(input.archived.unwrap_or(false)),
                };
                Ok((self.update_event_type(caller, name, patch)?, false))
            }
            Err(ServiceError::NotFound(_)) => {
                let created = self.create_event_type(
                    caller,
                    NewEventType {
                        name: name.to_string(),
                        description: Some(input.description),
                        schema,
                        archived: input.archived,
                    },
                )?;
                Ok((created, true))
            }
            Err(e) => Err(e),
        }
    }

    /// Svix's patch: only the fields present change.
    pub fn svix_patch_event_type(
        &self,
        caller: &Caller,
        name: &str,
        p: SvixEventTypePatch,
    ) -> Result<EventTypeInfo> {
        refuse_unkept(
            p.deprecated,
            p.feature_flag.clone().flatten().as_deref(),
            p.feature_flags.as_deref(),
            p.group_name.clone().flatten().as_deref(),
        )?;
        let schema = match &p.schemas {
            None => None,
            Some(s) => Some(one_schema(s.as_ref())?),
        };
        let patch = EventTypePatch {
            description: p.description,
            schema,
            archived: p.archived,
        };
        self.update_event_type(caller, name, patch)
    }

    /// Svix's delete: archives the type, or removes it with `expunge`.
    pub fn svix_delete_event_type(&self, caller: &Caller, name: &str, expunge: bool) -> Result<()> {
        if expunge {
            return self.delete_event_type(caller, name);
        }
        let patch = EventTypePatch {
            archived: Some(true),
            ..Default::default()
        };
        self.update_event_type(caller, name, patch).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_schema_per_type() {
        assert_eq!(one_schema(None).unwrap(), None);
        assert_eq!(one_schema(Some(&json!(null))).unwrap(), None);
        assert_eq!(one_schema(Some(&json!({}))).unwrap(), None);
        assert_eq!(
            one_schema(Some(&json!({"1": {"type": "object"}}))).unwrap(),
            Some(json!({"type": "object"}))
        );
        let two = one_schema(Some(&json!({"1": {}, "2": {}}))).unwrap_err();
        assert_eq!(two.code(), "validation_failed");
        assert!(one_schema(Some(&json!([1]))).is_err());
    }

    #[test]
    fn what_herald_does_not_keep_is_refused() {
        assert!(refuse_unkept(None, None, None, None).is_ok());
        assert!(refuse_unkept(Some(false), None, None, None).is_ok());
        assert_eq!(
            refuse_unkept(Some(true), None, None, None)
                .unwrap_err()
                .field(),
            Some("deprecated")
        );
        assert!(refuse_unkept(None, Some("beta"), None, None).is_err());
        assert!(refuse_unkept(None, None, None, Some("billing")).is_err());
        assert!(refuse_unkept(None, None, Some(&[]), None).is_ok());
        assert!(refuse_unkept(None, None, Some(&["beta".to_string()]), None).is_err());
    }
}
