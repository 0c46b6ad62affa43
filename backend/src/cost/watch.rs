//! What watches spend: budgets and anomaly detection, run together after every change of the
//! ledger (imports, allocation) and on the server's schedule, and the delivery of budget alerts.

use std::time::Duration;

use nimbus_api_types::ids::TenantId;
use sqlx::{PgConnection, PgPool};

use super::{anomalies, budgets};
use crate::db;
use crate::error::AppError;
use crate::state::AppState;

const DELIVERY_INTERVAL: Duration = Duration::from_secs(30);
const EVALUATION_INTERVAL: Duration = Duration::from_secs(60 * 60);

/// Evaluates the tenant's budgets and looks for anomalies, in the caller's transaction (so a
/// change and what it set off commit together).
pub async fn evaluate(conn: &mut PgConnection, tenant: TenantId) -> Result<(), AppError> {
    budgets::evaluate(conn, tenant).await?;
    anomalies::detect(conn, tenant).await?;
    Ok(())
}

/// [`evaluate`] in a transaction of its own (after an import committed): failures are logged,
/// since the change that prompted it is already done.
pub async fn evaluate_after_change(pool: &PgPool, tenant: TenantId) {
    let result = async {
        let mut tx = db::begin_for_tenant(pool, tenant).await?;
        evaluate(&mut tx, tenant).await?;
        tx.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    if let Err(err) = result {
        tracing::warn!(tenant = %tenant, error = %err, "budgets and anomalies were not evaluated");
    }
}

/// The server's loop: delivers due budget alerts every half minute and re-evaluates every
/// tenant every hour (forecasts move as days pass, periods roll over).
pub async fn run(state: AppState) {
    let mut tick = tokio::time::interval(DELIVERY_INTERVAL);
    let mut last_evaluation: Option<tokio::time::Instant> = None;
    loop {
        tick.tick().await;
        if last_evaluation.is_none_or(|at| at.elapsed() >= EVALUATION_INTERVAL) {
            last_evaluation = Some(tokio::time::Instant::now());
            match sqlx::query_scalar!("SELECT id FROM tenants WHERE suspended_at IS NULL")
                .fetch_all(&state.db)
                .await
            {
                Ok(tenants) => {
                    for tenant in tenants {
                        evaluate_after_change(&state.db, TenantId(tenant)).await;
                    }
                }
                Err(err) => tracing::warn!(error = %err, "tenants were not evaluated"),
            }
        }
        if let Err(err) = budgets::deliver_due(
            &state.db,
            state.outbound.as_deref(),
            state.mailer.as_deref(),
        )
        .await
        {
            tracing::warn!(error = %err, "budget alerts were not delivered");
        }
    }
}
