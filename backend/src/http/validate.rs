//! Checks of free-text fields shared by every domain.

use nimbus_api_types::ErrorCode;

use crate::error::AppError;

/// A name as people type it: trimmed, 1 to `max` characters.
pub fn bounded_name(raw: &str, max: usize) -> Result<&str, AppError> {
    let name = raw.trim();
    if (1..=max).contains(&name.chars().count()) {
        Ok(name)
    } else {
        Err(AppError::new(
            ErrorCode::ValidationFailed,
            format!("the name must be 1 to {max} characters"),
        ))
    }
}
