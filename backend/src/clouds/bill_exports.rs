//! The scheduled pull of bill exports (issue 4): each sync of an account with an export
//! location imports every bill object that is new or changed since the last pull, through the
//! same pipeline as uploads — so a re-delivered file is `unchanged` and a restated one replaces
//! its period.

use std::collections::HashMap;
use std::sync::Arc;

use nimbus_api_types::ErrorCode;
use nimbus_api_types::ids::TenantId;

use super::connector::{BillExportStore, ConnectorError};
use super::inventory;
use super::sync::Claimed;
use crate::audit::{Entry, Outcome};
use crate::cost::import::{self, BillFile, Importer, Quiet};
use crate::db;
use crate::error::AppError;
use crate::state::AppState;

/// The scope name of the pull in the account's sync scopes.
pub const SCOPE: &str = "bill-export";

/// Whether an object is a bill file (exports also hold manifests and status markers).
fn is_bill(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
    let bill_like = [
        ".csv",
        ".csv.gz",
        ".parquet",
        ".snappy.parquet",
        ".json",
        ".json.gz",
    ]
    .iter()
    .any(|suffix| name.ends_with(suffix));
    bill_like && !name.contains("manifest")
}

/// Imports new and changed bill objects. The outer `Err` is the database's; the inner one the
/// cloud's (the scope is then stale; what was imported stays).
pub async fn pull(
    state: &AppState,
    claimed: Claimed,
    store: &dyn BillExportStore,
) -> Result<Result<(), ConnectorError>, AppError> {
    let outcome = match store.objects().await {
        Ok(objects) => import_new(state, claimed, store, objects).await?,
        Err(err) => Err(err),
    };
    let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
    match &outcome {
        Ok(imported) => {
            inventory::complete_scope(
                &mut tx,
                claimed.tenant,
                claimed.account,
                claimed.job,
                SCOPE,
                *imported,
            )
            .await?;
        }
        Err(err) => {
            inventory::stale_scope(
                &mut tx,
                claimed.tenant,
                claimed.account,
                SCOPE,
                &err.to_string(),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(outcome.map(|_| ()))
}

/// Imports the objects not seen with their current ETag; how many were imported.
async fn import_new(
    state: &AppState,
    claimed: Claimed,
    store: &dyn BillExportStore,
    objects: Vec<super::connector::ExportObject>,
) -> Result<Result<i32, ConnectorError>, AppError> {
    let seen: HashMap<String, String> = {
        let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
        let rows = sqlx::query!(
            "SELECT object_key, etag FROM bill_export_objects WHERE tenant_id = $1 AND account_id = $2",
            claimed.tenant.0,
            claimed.account.0,
        )
        .fetch_all(&mut *tx)
        .await?;
        db::finish_read(tx);
        rows.into_iter()
            .map(|row| (row.object_key, row.etag))
            .collect()
    };
    let mut imported = 0;
    for object in objects {
        if !is_bill(&object.key) || seen.get(&object.key) == Some(&object.etag) {
            continue;
        }
        let spool = tempfile::Builder::new()
            .prefix("nimbus-export-")
            .tempfile()
            .map_err(AppError::internal)?;
        if let Err(err) = store.download(&object.key, spool.path()).await {
            return Ok(Err(err));
        }
        let mut file = BillFile::from_path(spool.path()).map_err(AppError::internal)?;
        file.name = object
            .key
            .rsplit('/')
            .next()
            .unwrap_or(&object.key)
            .to_owned();
        let importer = Importer {
            tenant: claimed.tenant,
            entry: entry(claimed.tenant, &object.key),
            statement_timeout: state.config.cost.import_timeout,
        };
        let import_id = match import::import(&state.db, &importer, file, Arc::new(Quiet)).await {
            Ok(done) => Some(done.id),
            // A rejected file stays in the import history with its errors; it is not tried
            // again until the object changes.
            Err(err) if err.code() == ErrorCode::BillRejected => {
                tracing::warn!(object = %object.key, error = %err, "exported bill rejected");
                None
            }
            // Busy or failed: the next sync tries again.
            Err(err) => {
                return Ok(Err(ConnectorError::Unavailable(format!(
                    "{} was not imported: {err}",
                    object.key
                ))));
            }
        };
        let mut tx = db::begin_for_tenant(&state.db, claimed.tenant).await?;
        sqlx::query!(
            "INSERT INTO bill_export_objects (tenant_id, account_id, object_key, etag, import_id)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account_id, object_key) DO UPDATE
             SET etag = $4, import_id = $5, imported_at = now()",
            claimed.tenant.0,
            claimed.account.0,
            object.key,
            object.etag,
            import_id.map(|id| id.0),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        imported += 1;
    }
    Ok(Ok(imported))
}

fn entry(tenant: TenantId, key: &str) -> Entry {
    Entry {
        tenant: Some(tenant),
        actor: "system".to_owned(),
        action: "cost.import",
        target: String::new(),
        outcome: Outcome::Success,
        source_ip: None,
        request_id: None,
        details: serde_json::json!({ "object": key }),
    }
}

#[cfg(test)]
mod tests {
    use super::is_bill;

    #[test]
    fn bills_are_told_from_manifests_and_markers() {
        for key in [
            "cur/nimbus/data/BILLING_PERIOD=2026-10/nimbus-00001.csv.gz",
            "focus/2026-10/part-0.snappy.parquet",
            "bills/october.csv",
        ] {
            assert!(is_bill(key), "{key}");
        }
        for key in [
            "cur/nimbus/metadata/BILLING_PERIOD=2026-10/nimbus-Manifest.json",
            "cur/nimbus/_SUCCESS",
            "cur/nimbus/",
        ] {
            assert!(!is_bill(key), "{key}");
        }
    }
}
