//! Cursor pagination shared by every list.
//!
//! A cursor is the base64url of the last item's sort key: opaque to
//! clients, stable under inserts (no offsets that shift), and exclusive.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use super::{Result, ServiceError};

/// The default page size.
pub const DEFAULT_LIMIT: usize = 20;
/// The largest page size.
pub const MAX_LIMIT: usize = 100;

/// A validated `limit` + `cursor`.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Items wanted.
    pub limit: usize,
    /// The decoded cursor: the sort key of the last item already seen.
    pub after: Option<Vec<u8>>,
}

impl PageRequest {
    /// Validates raw query values.
    pub fn parse(limit: Option<&str>, cursor: Option<&str>) -> Result<Self> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(ServiceError::bad_query(
                        "limit",
                        format!("limit must be an integer from 1 to {MAX_LIMIT}"),
                    ))
                }
            },
        };
        let after = match cursor {
            None | Some("") => None,
            Some(c) => Some(URL_SAFE_NO_PAD.decode(c).map_err(|_| {
                ServiceError::bad_query("cursor", "cursor is not one this API issued")
            })?),
        };
        Ok(Self { limit, after })
    }

    /// The cursor as a 16-byte id, for lists keyed by id.
    pub fn after_id(&self) -> Result<Option<[u8; 16]>> {
        self.after
            .as_ref()
            .map(|a| {
                <[u8; 16]>::try_from(a.as_slice()).map_err(|_| {
                    ServiceError::bad_query("cursor", "cursor is not one this API issued")
                })
            })
            .transpose()
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched items: the extra one only
    /// says whether there is more.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> Vec<u8>) -> Self {
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|last| URL_SAFE_NO_PAD.encode(key(last)))
        } else {
            None
        };
        Self { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_cursors() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert!(PageRequest::parse(Some("0"), None).is_err());
        assert!(PageRequest::parse(Some("101"), None).is_err());
        assert!(PageRequest::parse(Some("x"), None).is_err());
        assert!(PageRequest::parse(None, Some("!!")).is_err());
        let p = Page::from_overfetch(vec![1u8, 2, 3], 2, |x| vec![*x]);
        assert_eq!(p.items, vec![1, 2]);
        let c = p.next_cursor.unwrap();
        assert_eq!(
            PageRequest::parse(None, Some(&c)).unwrap().after,
            Some(vec![2])
        );
        assert!(Page::from_overfetch(vec![1u8, 2], 2, |x| vec![*x])
            .next_cursor
            .is_none());
    }
}
