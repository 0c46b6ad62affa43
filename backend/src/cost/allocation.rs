//! Allocation: the tenant's rules that map line items to projects, and the run that applies
//! them to the daily rollups.
//!
//! A run recomputes every daily rollup of the months it covers from the line items, so its
//! result depends only on the ledger and the rules: running it again changes nothing. Each
//! line item goes to the first rule that matches it (lowest priority number first), evaluated
//! in SQL; shared rows are then split in Rust with exact decimals, the last share taking the
//! remainder so the shares always add up to the whole.
//!
//! Runs of one tenant are serialized by a transaction-scoped advisory lock that imports take
//! too, so two of them can never interleave their delete and insert of the same month.

use std::collections::HashMap;

use chrono::{DateTime, Months, NaiveDate, Utc};
use nimbus_api_types::ErrorCode;
use nimbus_api_types::cost::{
    AllocationMatch, AllocationRule, AllocationRuleInput, AllocationRun, AllocationTarget,
    SplitMethod,
};
use nimbus_api_types::ids::{AllocationRuleId, ProjectId, TenantId};
use rust_decimal::Decimal;
use sqlx::PgConnection;
use uuid::Uuid;

use super::dimensions;
use crate::error::AppError;
use crate::http::validate::bounded_name;

/// Most rules a tenant may have: each is tried against every line item.
pub const MAX_RULES: i64 = 500;
/// Most projects one shared rule splits between.
const MAX_SHARES: usize = 100;
/// Decimal places of a share (before the last one takes the remainder).
const SHARE_SCALE: u32 = 16;

fn invalid(message: impl Into<std::borrow::Cow<'static, str>>) -> AppError {
    AppError::new(ErrorCode::ValidationFailed, message)
}

/// A rule as the database stores it, checked.
pub struct CheckedRule<'a> {
    pub name: &'a str,
    pub priority: i32,
    pub field: &'static str,
    pub tag_key: Option<&'a str>,
    pub value: &'a str,
    pub project: Option<ProjectId>,
    pub split: Option<&'static str>,
    /// Sorted and distinct.
    pub shares: Vec<ProjectId>,
}

fn bounded_value<'a>(what: &str, value: &'a str) -> Result<&'a str, AppError> {
    if value.is_empty() || value.len() > 1024 {
        return Err(invalid(format!("{what} must be 1 to 1024 bytes")));
    }
    Ok(value)
}

/// Checks a rule's input: names, values and at least two distinct projects for a shared cost.
pub fn check(input: &AllocationRuleInput) -> Result<CheckedRule<'_>, AppError> {
    let name = bounded_name(&input.name, 200)?;
    let (field, tag_key, value) = match &input.matches {
        AllocationMatch::SubAccount { value } => ("sub_account", None, value),
        AllocationMatch::BillingAccount { value } => ("billing_account", None, value),
        AllocationMatch::Tag { key, value } => {
            ("tag", Some(bounded_value("the tag key", key)?), value)
        }
        AllocationMatch::ResourceId { pattern } => ("resource_id", None, pattern),
    };
    let value = bounded_value("the matched value", value)?;
    let (project, split, shares) = match &input.target {
        AllocationTarget::Project { project_id } => (Some(*project_id), None, Vec::new()),
        AllocationTarget::Shared {
            method,
            project_ids,
        } => {
            let mut shares = project_ids.clone();
            shares.sort();
            shares.dedup();
            if shares.len() < 2 || shares.len() > MAX_SHARES {
                return Err(invalid(format!(
                    "a shared cost is split between 2 to {MAX_SHARES} distinct projects"
                )));
            }
            let split = match method {
                SplitMethod::Even => "even",
                SplitMethod::Proportional => "proportional",
            };
            (None, Some(split), shares)
        }
    };
    Ok(CheckedRule {
        name,
        priority: input.priority,
        field,
        tag_key,
        value,
        project,
        split,
        shares,
    })
}

/// Serializes allocation runs and imports of one tenant (until the transaction ends).
pub async fn lock(conn: &mut PgConnection, tenant: TenantId) -> Result<(), AppError> {
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtext('cost_allocation'), hashtext($1::uuid::text))",
        tenant.0
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn has_rules(conn: &mut PgConnection, tenant: TenantId) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM cost_allocation_rules WHERE tenant_id = $1) AS "exists!""#,
        tenant.0
    )
    .fetch_one(conn)
    .await?)
}

struct RuleRow {
    id: Uuid,
    name: String,
    priority: i32,
    match_field: String,
    tag_key: Option<String>,
    match_value: String,
    project_id: Option<Uuid>,
    split: Option<String>,
    shares: Vec<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl RuleRow {
    fn target(&self) -> AllocationTarget {
        match (self.project_id, self.split.as_deref()) {
            (Some(project), _) => AllocationTarget::Project {
                project_id: ProjectId(project),
            },
            (None, split) => AllocationTarget::Shared {
                method: if split == Some("proportional") {
                    SplitMethod::Proportional
                } else {
                    SplitMethod::Even
                },
                project_ids: self.shares.iter().copied().map(ProjectId).collect(),
            },
        }
    }

    fn into_rule(self) -> AllocationRule {
        let target = self.target();
        let value = self.match_value;
        let matches = match self.match_field.as_str() {
            "sub_account" => AllocationMatch::SubAccount { value },
            "billing_account" => AllocationMatch::BillingAccount { value },
            "tag" => AllocationMatch::Tag {
                key: self.tag_key.unwrap_or_default(),
                value,
            },
            _ => AllocationMatch::ResourceId { pattern: value },
        };
        AllocationRule {
            id: AllocationRuleId(self.id),
            name: self.name,
            priority: self.priority,
            matches,
            target,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The tenant's rules by priority: those after `after`, at most `limit` (or rule `only`).
async fn select(
    conn: &mut PgConnection,
    tenant: TenantId,
    only: Option<AllocationRuleId>,
    after: Option<i32>,
    limit: i64,
) -> Result<Vec<AllocationRule>, AppError> {
    let rows = sqlx::query_as!(
        RuleRow,
        r#"SELECT r.id, r.name, r.priority, r.match_field, r.tag_key, r.match_value, r.project_id, r.split,
                  coalesce(array_agg(s.project_id ORDER BY s.project_id) FILTER (WHERE s.project_id IS NOT NULL),
                           '{}') AS "shares!",
                  r.created_at, r.updated_at
           FROM cost_allocation_rules r LEFT JOIN cost_allocation_shares s ON s.rule_id = r.id
           WHERE r.tenant_id = $1 AND ($2::uuid IS NULL OR r.id = $2) AND ($3::integer IS NULL OR r.priority > $3)
           GROUP BY r.id ORDER BY r.priority LIMIT $4"#,
        tenant.0,
        only.map(|id| id.0),
        after,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(RuleRow::into_rule).collect())
}

/// The tenant's rules by priority: those after `after`, at most `limit`.
pub async fn list(
    conn: &mut PgConnection,
    tenant: TenantId,
    after: Option<i32>,
    limit: i64,
) -> Result<Vec<AllocationRule>, AppError> {
    select(conn, tenant, None, after, limit).await
}

async fn get(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: AllocationRuleId,
) -> Result<Option<AllocationRule>, AppError> {
    Ok(select(conn, tenant, Some(id), None, 1)
        .await?
        .into_iter()
        .next())
}

fn rule_constraint(err: sqlx::Error) -> AppError {
    AppError::constraint(
        err,
        Some("another rule has this priority"),
        Some("no such project in this tenant"),
    )
}

/// Creates the rule (`id` none) or replaces rule `id`'s definition; `None` if there is no such rule.
pub async fn save(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: Option<AllocationRuleId>,
    rule: &CheckedRule<'_>,
) -> Result<Option<AllocationRule>, AppError> {
    let saved = match id {
        None => {
            let count = sqlx::query_scalar!(
                r#"SELECT count(*) AS "count!" FROM cost_allocation_rules WHERE tenant_id = $1"#,
                tenant.0
            )
            .fetch_one(&mut *conn)
            .await?;
            if count >= MAX_RULES {
                return Err(invalid(format!(
                    "a tenant has at most {MAX_RULES} allocation rules"
                )));
            }
            sqlx::query_scalar!(
                "INSERT INTO cost_allocation_rules (id, tenant_id, name, priority, match_field, tag_key,
                                                    match_value, project_id, split)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                Uuid::now_v7(),
                tenant.0,
                rule.name,
                rule.priority,
                rule.field,
                rule.tag_key,
                rule.value,
                rule.project.map(|p| p.0),
                rule.split,
            )
            .fetch_one(&mut *conn)
            .await
            .map_err(rule_constraint)?
        }
        Some(id) => {
            let updated = sqlx::query_scalar!(
                "UPDATE cost_allocation_rules
                 SET name = $3, priority = $4, match_field = $5, tag_key = $6, match_value = $7,
                     project_id = $8, split = $9, updated_at = now()
                 WHERE tenant_id = $1 AND id = $2 RETURNING id",
                tenant.0,
                id.0,
                rule.name,
                rule.priority,
                rule.field,
                rule.tag_key,
                rule.value,
                rule.project.map(|p| p.0),
                rule.split,
            )
            .fetch_optional(&mut *conn)
            .await
            .map_err(rule_constraint)?;
            let Some(updated) = updated else {
                return Ok(None);
            };
            sqlx::query!(
                "DELETE FROM cost_allocation_shares WHERE tenant_id = $1 AND rule_id = $2",
                tenant.0,
                updated
            )
            .execute(&mut *conn)
            .await?;
            updated
        }
    };
    let shares: Vec<Uuid> = rule.shares.iter().map(|p| p.0).collect();
    sqlx::query!(
        "INSERT INTO cost_allocation_shares (tenant_id, rule_id, project_id)
         SELECT $1, $2, unnest($3::uuid[])",
        tenant.0,
        saved,
        &shares
    )
    .execute(&mut *conn)
    .await
    .map_err(rule_constraint)?;
    get(conn, tenant, AllocationRuleId(saved)).await
}

/// Deletes rule `id`; false if there was none.
pub async fn delete(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: AllocationRuleId,
) -> Result<bool, AppError> {
    let done = sqlx::query!(
        "DELETE FROM cost_allocation_rules WHERE tenant_id = $1 AND id = $2",
        tenant.0,
        id.0
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Where the rows a rule matched go.
enum Destination {
    Project(Uuid),
    Shared {
        method: SplitMethod,
        projects: Vec<Uuid>,
    },
}

/// One daily rollup row, with the rule that matched its line items.
struct Group {
    source: String,
    billing_account_id: String,
    billing_period_start: DateTime<Utc>,
    day: NaiveDate,
    provider: String,
    sub_account_id: Option<String>,
    service_name: String,
    service_category: String,
    region_id: Option<String>,
    charge_category: String,
    billing_currency: String,
    rule_id: Option<Uuid>,
    cluster: Option<String>,
    tags: Option<serde_json::Value>,
    billed: Decimal,
    effective: Decimal,
    list: Option<Decimal>,
    contracted: Option<Decimal>,
    line_items: i64,
}

/// The rollup rows to write, column by column.
#[derive(Default)]
struct Columns {
    source: Vec<String>,
    account: Vec<String>,
    period: Vec<DateTime<Utc>>,
    day: Vec<NaiveDate>,
    provider: Vec<String>,
    sub_account: Vec<Option<String>>,
    service: Vec<String>,
    category: Vec<String>,
    region: Vec<Option<String>>,
    charge: Vec<String>,
    currency: Vec<String>,
    project: Vec<Option<Uuid>>,
    cluster: Vec<Option<String>>,
    tags: Vec<Option<serde_json::Value>>,
    billed: Vec<Decimal>,
    effective: Vec<Decimal>,
    list: Vec<Option<Decimal>>,
    contracted: Vec<Option<Decimal>>,
    line_items: Vec<i64>,
}

/// The amounts of one share of a group.
struct Amounts {
    billed: Decimal,
    effective: Decimal,
    list: Option<Decimal>,
    contracted: Option<Decimal>,
    line_items: i64,
}

impl Columns {
    fn push(&mut self, group: &Group, project: Option<Uuid>, amounts: Amounts) {
        self.source.push(group.source.clone());
        self.account.push(group.billing_account_id.clone());
        self.period.push(group.billing_period_start);
        self.day.push(group.day);
        self.provider.push(group.provider.clone());
        self.sub_account.push(group.sub_account_id.clone());
        self.service.push(group.service_name.clone());
        self.category.push(group.service_category.clone());
        self.region.push(group.region_id.clone());
        self.charge.push(group.charge_category.clone());
        self.currency.push(group.billing_currency.clone());
        self.project.push(project);
        self.cluster.push(group.cluster.clone());
        self.tags.push(group.tags.clone());
        self.billed.push(amounts.billed);
        self.effective.push(amounts.effective);
        self.list.push(amounts.list);
        self.contracted.push(amounts.contracted);
        self.line_items.push(amounts.line_items);
    }
}

/// Splits `amount` by `weights` exactly: every share but the last is rounded, the last takes
/// what remains. Weights that are all zero (or negative) split evenly.
#[must_use]
pub fn split(amount: Decimal, weights: &[Decimal]) -> Vec<Decimal> {
    let positive: Vec<Decimal> = weights.iter().map(|w| (*w).max(Decimal::ZERO)).collect();
    let total: Decimal = positive.iter().sum();
    let even = total.is_zero();
    let count = Decimal::from(weights.len());
    let mut shares = Vec::with_capacity(weights.len());
    let mut given = Decimal::ZERO;
    for (i, weight) in positive.iter().enumerate() {
        let share = if i + 1 == weights.len() {
            amount - given
        } else if even {
            (amount / count).round_dp(SHARE_SCALE)
        } else {
            amount
                .checked_mul(*weight)
                .and_then(|product| product.checked_div(total))
                .unwrap_or_else(|| amount * (*weight / total))
                .round_dp(SHARE_SCALE)
        };
        given += share;
        shares.push(share);
    }
    shares
}

/// The months the tenant has costs in (the first instant of each, UTC).
async fn months_with_costs(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<Vec<DateTime<Utc>>, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT DISTINCT date_trunc('month', billing_period_start, 'UTC') AS "month!"
           FROM cost_units WHERE tenant_id = $1 ORDER BY 1"#,
        tenant.0
    )
    .fetch_all(conn)
    .await?)
}

/// Recomputes the daily rollups of every month the tenant has costs in. The caller holds
/// [`lock`].
pub async fn run_all(conn: &mut PgConnection, tenant: TenantId) -> Result<AllocationRun, AppError> {
    let months = months_with_costs(conn, tenant).await?;
    run(conn, tenant, &months).await
}

/// Recomputes the daily rollups of `months` (first instants, UTC) with the rules applied. The
/// caller holds [`lock`].
pub async fn run(
    conn: &mut PgConnection,
    tenant: TenantId,
    months: &[DateTime<Utc>],
) -> Result<AllocationRun, AppError> {
    let destinations = destinations(conn, tenant).await?;
    let time_zone = super::repo::time_zone(conn, tenant).await?;
    let tag_keys = dimensions::tag_keys(conn, tenant).await?;
    let mut summary = AllocationRun {
        months: 0,
        rollup_rows: 0,
        unallocated_line_items: 0,
    };
    for &month in months {
        let end = month
            .checked_add_months(Months::new(1))
            .ok_or_else(|| invalid("billing period out of range"))?;
        let groups = sqlx::query_as!(
            Group,
            r#"WITH rules AS (
                   SELECT id, priority, match_field, tag_key, match_value,
                          replace(replace(replace(replace(replace(match_value, '\', '\\'), '%', '\%'),
                                                  '_', '\_'), '*', '%'), '?', '_') AS pattern
                   FROM cost_allocation_rules WHERE tenant_id = $1)
               SELECT li.source AS "source!", li.billing_account_id AS "billing_account_id!",
                      li.billing_period_start AS "billing_period_start!",
                      (li.charge_period_start AT TIME ZONE $4)::date AS "day!",
                      coalesce(li.service_provider_name, li.provider_name, 'Unknown') AS "provider!",
                      li.sub_account_id, li.service_name AS "service_name!",
                      li.service_category AS "service_category!", li.region_id,
                      li.charge_category AS "charge_category!", li.billing_currency AS "billing_currency!",
                      (SELECT r.id FROM rules r
                       WHERE CASE r.match_field
                                 WHEN 'sub_account' THEN li.sub_account_id = r.match_value
                                 WHEN 'billing_account' THEN li.billing_account_id = r.match_value
                                 WHEN 'tag' THEN li.tags ->> r.tag_key = r.match_value
                                 ELSE li.resource_id LIKE r.pattern
                             END
                       ORDER BY r.priority LIMIT 1) AS rule_id,
                      li.cluster, cost_tag_dimensions(li.tags, $5) AS tags,
                      sum(li.billed_cost) AS "billed!", sum(li.effective_cost) AS "effective!",
                      sum(li.list_cost) AS list, sum(li.contracted_cost) AS contracted,
                      count(*) AS "line_items!"
               FROM cost_line_items li
               WHERE li.tenant_id = $1 AND li.billing_period_start >= $2 AND li.billing_period_start < $3
               GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14"#,
            tenant.0,
            month,
            end,
            time_zone,
            tag_keys.as_slice(),
        )
        .fetch_all(&mut *conn)
        .await?;
        let columns = allocate(&groups, &destinations, &mut summary);
        sqlx::query!(
            "DELETE FROM cost_daily WHERE tenant_id = $1 AND billing_period_start >= $2
                                      AND billing_period_start < $3",
            tenant.0,
            month,
            end
        )
        .execute(&mut *conn)
        .await?;
        let written = sqlx::query!(
            r#"INSERT INTO cost_daily (tenant_id, source, billing_account_id, billing_period_start, day, provider,
                                       sub_account_id, service_name, service_category, region_id, charge_category,
                                       billing_currency, project_id, cluster, tags, billed_cost, effective_cost,
                                       list_cost, contracted_cost, line_items)
               SELECT $1, * FROM unnest($2::text[], $3::text[], $4::timestamptz[], $5::date[], $6::text[],
                                        $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                                        $12::text[], $13::uuid[], $14::text[], $15::jsonb[],
                                        $16::numeric[], $17::numeric[], $18::numeric[], $19::numeric[],
                                        $20::bigint[])"#,
            tenant.0,
            &columns.source,
            &columns.account,
            &columns.period,
            &columns.day,
            &columns.provider,
            &columns.sub_account as &[Option<String>],
            &columns.service,
            &columns.category,
            &columns.region as &[Option<String>],
            &columns.charge,
            &columns.currency,
            &columns.project as &[Option<Uuid>],
            &columns.cluster as &[Option<String>],
            &columns.tags as &[Option<serde_json::Value>],
            &columns.billed,
            &columns.effective,
            &columns.list as &[Option<Decimal>],
            &columns.contracted as &[Option<Decimal>],
            &columns.line_items,
        )
        .execute(&mut *conn)
        .await?;
        summary.months += 1;
        summary.rollup_rows += i64::try_from(written.rows_affected()).unwrap_or(i64::MAX);
    }
    Ok(summary)
}

async fn destinations(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<HashMap<Uuid, Destination>, AppError> {
    let rules = list(conn, tenant, None, MAX_RULES).await?;
    Ok(rules
        .into_iter()
        .map(|rule| {
            let destination = match rule.target {
                AllocationTarget::Project { project_id } => Destination::Project(project_id.0),
                AllocationTarget::Shared {
                    method,
                    project_ids,
                } => Destination::Shared {
                    method,
                    projects: project_ids.into_iter().map(|p| p.0).collect(),
                },
            };
            (rule.id.0, destination)
        })
        .collect())
}

/// Turns one month's groups into rollup rows: direct rules name their project, shared rules
/// split, the rest stays unallocated. Proportional weights are each project's directly
/// allocated effective cost of the month in the group's currency.
fn allocate(
    groups: &[Group],
    destinations: &HashMap<Uuid, Destination>,
    summary: &mut AllocationRun,
) -> Columns {
    let mut direct: HashMap<(&str, Uuid), Decimal> = HashMap::new();
    for group in groups {
        if let Some(Destination::Project(project)) =
            group.rule_id.and_then(|rule| destinations.get(&rule))
        {
            *direct
                .entry((group.billing_currency.as_str(), *project))
                .or_default() += group.effective;
        }
    }
    let mut columns = Columns::default();
    for group in groups {
        let whole = || Amounts {
            billed: group.billed,
            effective: group.effective,
            list: group.list,
            contracted: group.contracted,
            line_items: group.line_items,
        };
        match group.rule_id.and_then(|rule| destinations.get(&rule)) {
            None => {
                summary.unallocated_line_items += group.line_items;
                columns.push(group, None, whole());
            }
            Some(Destination::Project(project)) => columns.push(group, Some(*project), whole()),
            Some(Destination::Shared { method, projects }) => {
                let weights: Vec<Decimal> = match method {
                    SplitMethod::Even => vec![Decimal::ONE; projects.len()],
                    SplitMethod::Proportional => projects
                        .iter()
                        .map(|project| {
                            direct
                                .get(&(group.billing_currency.as_str(), *project))
                                .copied()
                                .unwrap_or_default()
                        })
                        .collect(),
                };
                let billed = split(group.billed, &weights);
                let effective = split(group.effective, &weights);
                let list = group.list.map(|list| split(list, &weights));
                let contracted = group.contracted.map(|c| split(c, &weights));
                for (i, project) in projects.iter().enumerate() {
                    columns.push(
                        group,
                        Some(*project),
                        Amounts {
                            billed: billed[i],
                            effective: effective[i],
                            list: list.as_ref().map(|shares| shares[i]),
                            contracted: contracted.as_ref().map(|shares| shares[i]),
                            // Each line item is counted once, on the first share.
                            line_items: if i == 0 { group.line_items } else { 0 },
                        },
                    );
                }
            }
        }
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn shares_add_up_to_the_whole_exactly() {
        let shares = split(dec("100"), &[Decimal::ONE, Decimal::ONE, Decimal::ONE]);
        assert_eq!(shares.iter().sum::<Decimal>(), dec("100"));
        assert_eq!(shares[0], dec("33.3333333333333333"));
        assert_eq!(shares[2], dec("33.3333333333333334"));
    }

    #[test]
    fn proportional_shares_follow_the_weights_and_zero_weights_split_evenly() {
        assert_eq!(
            split(dec("10"), &[dec("300"), dec("100")]),
            vec![dec("7.5"), dec("2.5")]
        );
        assert_eq!(
            split(dec("-9"), &[Decimal::ZERO, dec("-4"), Decimal::ZERO]),
            vec![dec("-3"), dec("-3"), dec("-3")]
        );
    }
}
