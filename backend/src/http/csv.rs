//! CSV exports: the download response and the spreadsheet-formula defence every text cell needs.

use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::AppError;

/// The finished `writer` as a `text/csv` download named `file_name`.
pub fn attachment(
    file_name: &'static str,
    writer: csv::Writer<Vec<u8>>,
) -> Result<Response, AppError> {
    let body = writer
        .into_inner()
        .map_err(|err| AppError::internal(err.into_error()))?;
    let disposition = format!("attachment; filename=\"{file_name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

/// Spreadsheets run cells that start with `=`, `+`, `-`, `@` as formulas: prefix text cells with
/// a quote so an export cannot execute what an attacker typed into a name. (Numbers written by
/// the server are not text cells and stay as they are.)
#[must_use]
pub fn neutralize(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::neutralize;

    #[test]
    fn formula_cells_are_defused() {
        assert_eq!(neutralize("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralize("project.create"), "project.create");
    }
}
