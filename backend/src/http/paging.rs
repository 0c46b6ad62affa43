//! Cursor paging for list endpoints: `?limit=` (1–200, default 50) and `?cursor=` from the
//! previous page's `next_cursor`. Cursors are opaque to clients (base64url of the last sort key),
//! so the sort key can change without breaking them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nimbus_api_types::ErrorCode;
use nimbus_api_types::identity::Page;
use serde::Deserialize;

use crate::error::AppError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1–200 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size as an SQL `LIMIT`, one more than asked to learn whether a next page exists.
    pub fn fetch_limit(&self) -> Result<i64, AppError> {
        Ok(i64::from(self.limit()?) + 1)
    }

    pub fn limit(&self) -> Result<u32, AppError> {
        match self.limit {
            None => Ok(DEFAULT_LIMIT),
            Some(limit @ 1..=MAX_LIMIT) => Ok(limit),
            Some(_) => Err(AppError::new(
                ErrorCode::ValidationFailed,
                format!("limit must be between 1 and {MAX_LIMIT}"),
            )),
        }
    }

    /// The decoded cursor: the sort key of the last item already seen.
    pub fn after(&self) -> Result<Option<String>, AppError> {
        self.cursor
            .as_deref()
            .map(|cursor| {
                URL_SAFE_NO_PAD
                    .decode(cursor)
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .ok_or_else(|| AppError::new(ErrorCode::BadRequest, "the cursor is not valid"))
            })
            .transpose()
    }

    /// The decoded cursor as the sort key's own type (an id).
    pub fn after_key<K: std::str::FromStr>(&self) -> Result<Option<K>, AppError> {
        self.after()?
            .map(|cursor| cursor.parse::<K>())
            .transpose()
            .map_err(|_| AppError::new(ErrorCode::BadRequest, "the cursor is not valid"))
    }

    /// Cuts the fetched rows to the page and sets `next_cursor` from the last item's sort key.
    pub fn page<T>(
        &self,
        mut items: Vec<T>,
        key: impl Fn(&T) -> String,
    ) -> Result<Page<T>, AppError> {
        let limit = usize::try_from(self.limit()?).unwrap_or(usize::MAX);
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|last| URL_SAFE_NO_PAD.encode(key(last)))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }
}
