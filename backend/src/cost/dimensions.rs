//! Dimensions of the rollups that are not FOCUS columns: the Kubernetes cluster a cost belongs
//! to, and the values of the tag keys a tenant made cost dimensions (`cost_settings`).

use nimbus_api_types::ErrorCode;
use nimbus_api_types::ids::TenantId;
use serde_json::{Map, Value};
use sqlx::PgConnection;

use crate::error::AppError;

/// Tag keys the managed Kubernetes services write on the resources of a cluster, whose value is
/// the cluster's name (or id, for Alibaba's ACK).
const CLUSTER_TAG_KEYS: [&str; 9] = [
    "aws:eks:cluster-name", // EKS (AWS-generated cost allocation tag)
    "aws_eks_cluster_name", // the same in CUR 2.0 and Data Exports
    "eks:cluster-name",     // EKS managed node groups
    "alpha.eksctl.io/cluster-name",
    "aks-managed-cluster-name", // AKS node resource group resources
    "goog-k8s-cluster-name",    // GKE nodes, disks and load balancers
    "goog-gke-cluster-name",
    "ack.aliyun.com", // Alibaba Cloud ACK (the cluster id)
    "k8s.io/cluster-name",
];

/// `kubernetes.io/cluster/NAME: owned|shared`, the tag the Kubernetes cloud providers put on
/// the nodes, volumes and load balancers of cluster NAME (EKS, kops, self-managed).
const CLUSTER_TAG_PREFIX: &str = "kubernetes.io/cluster/";

const AKS_MARKER: &str = "/providers/microsoft.containerservice/managedclusters/";

/// The cluster a line item's costs belong to: from its tags, else its resource id when the
/// resource is a managed cluster itself (an EKS, AKS or GKE control plane).
#[must_use]
pub fn cluster(tags: Option<&Map<String, Value>>, resource_id: Option<&str>) -> Option<String> {
    if let Some(tags) = tags {
        let named = CLUSTER_TAG_KEYS
            .iter()
            .find_map(|key| tags.get(*key).and_then(Value::as_str))
            .filter(|name| !name.is_empty());
        if let Some(name) = named {
            return Some(name.to_owned());
        }
        let prefixed = tags
            .keys()
            .find_map(|key| key.strip_prefix(CLUSTER_TAG_PREFIX))
            .filter(|name| !name.is_empty());
        if let Some(name) = prefixed {
            return Some(name.to_owned());
        }
    }
    let resource = resource_id?;
    let name = if resource.starts_with("arn:aws:eks:") {
        // arn:aws:eks:REGION:ACCOUNT:cluster/NAME
        resource.split_once(":cluster/").map(|(_, name)| name)
    } else if let Some(at) = resource.to_ascii_lowercase().find(AKS_MARKER) {
        // …/providers/Microsoft.ContainerService/managedClusters/NAME[/agentPools/…]
        resource.get(at + AKS_MARKER.len()..)
    } else if resource.starts_with("//container.googleapis.com/") {
        // //container.googleapis.com/projects/P/locations/L/clusters/NAME
        resource.split_once("/clusters/").map(|(_, rest)| rest)
    } else {
        None
    };
    name.map(|name| name.split('/').next().unwrap_or(name))
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
}

/// Most tag keys a tenant can make cost dimensions: each multiplies the rollup rows by the
/// number of its values.
const MAX_TAG_KEYS: usize = 5;
const MAX_TAG_KEY_CHARS: usize = 256;

/// The tag keys a tenant made cost dimensions, in the order it gave them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagKeys(Vec<String>);

impl TagKeys {
    /// Checks keys a tenant asks for.
    pub fn new(keys: Vec<String>) -> Result<Self, AppError> {
        let invalid = |message: String| AppError::new(ErrorCode::ValidationFailed, message);
        if keys.len() > MAX_TAG_KEYS {
            return Err(invalid(format!(
                "at most {MAX_TAG_KEYS} tag keys can be cost dimensions"
            )));
        }
        for (i, key) in keys.iter().enumerate() {
            if key.is_empty() || key.chars().count() > MAX_TAG_KEY_CHARS {
                return Err(invalid(format!(
                    "a tag key has 1 to {MAX_TAG_KEY_CHARS} characters"
                )));
            }
            // `group_by` lists dimensions separated by commas.
            if key.contains(',') || key.chars().any(char::is_control) {
                return Err(invalid(format!(
                    "the tag key `{key}` contains a comma or a control character"
                )));
            }
            if keys[..i].contains(key) {
                return Err(invalid(format!("the tag key `{key}` appears twice")));
            }
        }
        Ok(Self(keys))
    }

    #[must_use]
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    #[must_use]
    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|k| k == key)
    }

    /// The values of these keys in a line item's tags, as the JSON object `cost_daily.tags`
    /// holds (the SQL rollups project the same way with `cost_tag_dimensions`).
    #[must_use]
    pub fn project(&self, tags: Option<&Map<String, Value>>) -> Option<String> {
        let tags = tags?;
        let kept: Map<String, Value> = self
            .0
            .iter()
            .filter_map(|key| Some((key.clone(), tags.get(key)?.clone())))
            .collect();
        (!kept.is_empty()).then(|| Value::Object(kept).to_string())
    }
}

/// The tenant's tag dimensions.
pub async fn tag_keys(conn: &mut PgConnection, tenant: TenantId) -> Result<TagKeys, AppError> {
    let keys = sqlx::query_scalar!(
        "SELECT tag_keys FROM cost_settings WHERE tenant_id = $1",
        tenant.0
    )
    .fetch_optional(conn)
    .await?;
    Ok(TagKeys(keys.unwrap_or_default()))
}

/// Replaces the tenant's tag dimensions; the caller recomputes the rollups.
pub async fn save_tag_keys(
    conn: &mut PgConnection,
    tenant: TenantId,
    keys: &TagKeys,
) -> Result<(), AppError> {
    sqlx::query!(
        "INSERT INTO cost_settings (tenant_id, tag_keys) VALUES ($1, $2)
         ON CONFLICT (tenant_id) DO UPDATE SET tag_keys = EXCLUDED.tag_keys, updated_at = now()",
        tenant.0,
        keys.as_slice(),
    )
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_cluster_comes_from_the_tags_the_managed_services_write() {
        let cases = [
            (r#"{"aws:eks:cluster-name": "prod"}"#, "prod"),
            (
                r#"{"aks-managed-cluster-name": "aks-1", "env": "x"}"#,
                "aks-1",
            ),
            (r#"{"goog-k8s-cluster-name": "gke-eu"}"#, "gke-eu"),
            (r#"{"ack.aliyun.com": "c1234"}"#, "c1234"),
            (r#"{"kubernetes.io/cluster/kops-a": "owned"}"#, "kops-a"),
        ];
        for (json, name) in cases {
            assert_eq!(
                cluster(Some(&tags(json)), None).as_deref(),
                Some(name),
                "{json}"
            );
        }
        assert_eq!(cluster(Some(&tags(r#"{"team": "data"}"#)), None), None);
        assert_eq!(
            cluster(Some(&tags(r#"{"eks:cluster-name": ""}"#)), None),
            None
        );
    }

    #[test]
    fn a_managed_control_plane_is_its_own_cluster() {
        for (id, name) in [
            ("arn:aws:eks:eu-west-1:123456789012:cluster/prod", "prod"),
            (
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/aks-1",
                "aks-1",
            ),
            (
                "/subscriptions/s/resourceGroups/rg/providers/microsoft.containerservice/managedclusters/aks-2/agentPools/np",
                "aks-2",
            ),
            (
                "//container.googleapis.com/projects/p/locations/europe-west1/clusters/gke-eu",
                "gke-eu",
            ),
        ] {
            assert_eq!(cluster(None, Some(id)).as_deref(), Some(name), "{id}");
        }
        assert_eq!(cluster(None, Some("i-0abc")), None);
        assert_eq!(
            cluster(None, Some("arn:aws:eks:eu-west-1:1:nodegroup/prod/ng/x")),
            None
        );
    }

    #[test]
    fn only_the_named_keys_are_projected_verbatim() {
        let keys = TagKeys::new(vec!["team".into(), "env".into()]).unwrap();
        let all = tags(r#"{"team": "data ", "owner": "ann", "env": "prod"}"#);
        assert_eq!(
            keys.project(Some(&all)).as_deref(),
            Some(r#"{"env":"prod","team":"data "}"#)
        );
        assert_eq!(keys.project(Some(&tags(r#"{"owner": "ann"}"#))), None);
        assert_eq!(TagKeys::default().project(Some(&all)), None);
    }

    #[test]
    fn tag_keys_are_checked() {
        assert!(TagKeys::new(vec!["a,b".into()]).is_err());
        assert!(TagKeys::new(vec![String::new()]).is_err());
        assert!(TagKeys::new(vec!["a".into(), "a".into()]).is_err());
        assert!(TagKeys::new((0..6).map(|i| i.to_string()).collect()).is_err());
        assert!(TagKeys::new(vec!["aws:createdBy".into(), "team".into()]).is_ok());
    }
}
