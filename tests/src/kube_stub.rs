//! A stand-in Kubernetes API server: list endpoints with `limit` / `continue` paging over
//! objects shaped like the Kubernetes documentation's examples, bearer-token checks, and fault
//! knobs (429 with `Retry-After`, 5xx, a failing page, 403, slow answers). It records every
//! call so tests can prove what reached it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Items the stub returns per page, whatever `limit` asks (the API server may return fewer).
pub const PAGE_SIZE: usize = 2;

/// A fault on one list path.
#[derive(Debug, Clone)]
pub enum Fault {
    /// `429 Too Many Requests` with `Retry-After: secs`, this many times, then answers.
    Throttle { times: u32, retry_after_secs: u64 },
    /// `500` this many times, then answers.
    ServerError { times: u32 },
    /// Page `index` (0-based) always fails with `500`.
    FailPage { index: usize },
    /// `403 Forbidden`, always.
    Forbidden,
    /// Waits this long before answering.
    Slow(Duration),
}

/// One call the stub received.
#[derive(Debug, Clone)]
pub struct Call {
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    token: String,
    git_version: String,
    /// List path → items.
    lists: BTreeMap<String, Vec<Value>>,
    faults: BTreeMap<String, Fault>,
    calls: Vec<Call>,
    /// Items per page: [`PAGE_SIZE`] unless set (a benchmark serves real-sized pages).
    page_size: Option<usize>,
}

#[derive(Clone)]
pub struct KubeStub {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

/// The version endpoint (only `Fault::ServerError` applies to it).
pub const VERSION: &str = "/version";
pub const NODES: &str = "/api/v1/nodes";
pub const NAMESPACES: &str = "/api/v1/namespaces";
pub const DEPLOYMENTS: &str = "/apis/apps/v1/deployments";
pub const STATEFULSETS: &str = "/apis/apps/v1/statefulsets";
pub const DAEMONSETS: &str = "/apis/apps/v1/daemonsets";
pub const JOBS: &str = "/apis/batch/v1/jobs";
pub const CRONJOBS: &str = "/apis/batch/v1/cronjobs";

impl KubeStub {
    /// A cluster answering to `token`, with nothing in it yet.
    pub async fn start(token: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            token: token.to_owned(),
            git_version: "v1.31.2+k3s1".into(),
            ..Inner::default()
        }));
        for path in [
            NODES,
            NAMESPACES,
            DEPLOYMENTS,
            STATEFULSETS,
            DAEMONSETS,
            JOBS,
            CRONJOBS,
        ] {
            inner.lock().unwrap().lists.insert(path.into(), Vec::new());
        }
        let app = Router::new()
            .route(VERSION, axum::routing::get(version))
            .route("/api/v1/{resource}", axum::routing::get(core_list))
            .route(
                "/apis/{group}/{version}/{resource}",
                axum::routing::get(group_list),
            )
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{address}"),
            inner,
        }
    }

    /// Pages of `size` items (the client's `limit` when smaller), instead of [`PAGE_SIZE`].
    pub fn set_page_size(&self, size: usize) {
        self.inner.lock().unwrap().page_size = Some(size);
    }

    pub fn set_items(&self, path: &str, items: Vec<Value>) {
        self.inner.lock().unwrap().lists.insert(path.into(), items);
    }

    pub fn set_fault(&self, path: &str, fault: Fault) {
        self.inner.lock().unwrap().faults.insert(path.into(), fault);
    }

    pub fn clear_faults(&self) {
        self.inner.lock().unwrap().faults.clear();
    }

    /// Answers only to this token from now on (the old one is "revoked").
    pub fn set_token(&self, token: &str) {
        self.inner.lock().unwrap().token = token.into();
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// A kubeconfig for this cluster with a token user, as `kubectl config view --raw` writes.
    pub fn kubeconfig(&self, token: &str) -> String {
        format!(
            "apiVersion: v1
kind: Config
clusters:
- cluster:
    server: {url}
  name: stub
contexts:
- context:
    cluster: stub
    namespace: default
    user: nimbus-reader
  name: stub
current-context: stub
preferences: {{}}
users:
- name: nimbus-reader
  user:
    token: {token}
",
            url = self.url
        )
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    (
        code,
        axum::Json(json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code.as_u16(),
        })),
    )
        .into_response()
}

async fn version(State(inner): State<Arc<Mutex<Inner>>>) -> Response {
    let (git_version, failing) = {
        let mut inner = inner.lock().unwrap();
        inner.calls.push(Call {
            path: VERSION.into(),
            query: BTreeMap::new(),
            at: Instant::now(),
        });
        let failing = match inner.faults.get_mut(VERSION) {
            Some(Fault::ServerError { times }) if *times > 0 => {
                *times -= 1;
                true
            }
            _ => false,
        };
        (inner.git_version.clone(), failing)
    };
    if failing {
        return status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the API server is shutting down",
        );
    }
    axum::Json(json!({
        "major": "1", "minor": "31", "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
        "buildDate": "2024-10-22T00:00:00Z", "goVersion": "go1.22.8", "compiler": "gc",
        "platform": "linux/amd64"
    }))
    .into_response()
}

async fn core_list(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(resource): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    list(inner, format!("/api/v1/{resource}"), query, headers).await
}

async fn group_list(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((group, version, resource)): Path<(String, String, String)>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    list(
        inner,
        format!("/apis/{group}/{version}/{resource}"),
        query,
        headers,
    )
    .await
}

async fn list(
    inner: Arc<Mutex<Inner>>,
    path: String,
    query: BTreeMap<String, String>,
    headers: HeaderMap,
) -> Response {
    let page: usize = query
        .get("continue")
        .and_then(|token| token.strip_prefix("page-"))
        .and_then(|index| index.parse().ok())
        .unwrap_or(0);
    let (authorized, fault, items, page_size) = {
        let mut inner = inner.lock().unwrap();
        let page_size = inner.page_size.map_or(PAGE_SIZE, |size| {
            let asked = query.get("limit").and_then(|limit| limit.parse().ok());
            asked.map_or(size, |asked: usize| asked.min(size))
        });
        inner.calls.push(Call {
            path: path.clone(),
            query: query.clone(),
            at: Instant::now(),
        });
        let expected = format!("Bearer {}", inner.token);
        let authorized = headers
            .get("authorization")
            .is_some_and(|value| value.as_bytes() == expected.as_bytes());
        let fault = inner.faults.get_mut(&path).map(|fault| {
            let current = fault.clone();
            match fault {
                Fault::Throttle { times, .. } | Fault::ServerError { times } => {
                    *times = times.saturating_sub(1);
                }
                _ => {}
            }
            current
        });
        (
            authorized,
            fault,
            inner.lists.get(&path).cloned(),
            page_size,
        )
    };
    if !authorized {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    match fault {
        Some(Fault::Throttle {
            times,
            retry_after_secs,
        }) if times > 0 => {
            let mut response = status(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "the server has received too many requests and has asked us to try again later",
            );
            response
                .headers_mut()
                .insert("retry-after", retry_after_secs.to_string().parse().unwrap());
            return response;
        }
        Some(Fault::ServerError { times }) if times > 0 => {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "etcdserver: request timed out",
            );
        }
        Some(Fault::FailPage { index }) if index == page => {
            return status(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "etcdserver: leader changed",
            );
        }
        Some(Fault::Forbidden) => {
            return status(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!(
                    "{} is forbidden: User \"system:serviceaccount:nimbus:reader\" cannot list resource",
                    path.rsplit('/').next().unwrap_or_default()
                ),
            );
        }
        Some(Fault::Slow(delay)) => tokio::time::sleep(delay).await,
        _ => {}
    }
    let Some(items) = items else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    let start = page * page_size;
    let chunk: Vec<Value> = items.iter().skip(start).take(page_size).cloned().collect();
    let more = start + page_size < items.len();
    let kind = match path.rsplit('/').next().unwrap_or_default() {
        "nodes" => "NodeList",
        "namespaces" => "NamespaceList",
        "deployments" => "DeploymentList",
        "statefulsets" => "StatefulSetList",
        "daemonsets" => "DaemonSetList",
        "jobs" => "JobList",
        _ => "CronJobList",
    };
    let mut metadata = json!({ "resourceVersion": "123456" });
    if more {
        metadata["continue"] = json!(format!("page-{}", page + 1));
        metadata["remainingItemCount"] = json!(items.len() - start - page_size);
    }
    axum::Json(json!({ "kind": kind, "apiVersion": "v1", "metadata": metadata, "items": chunk }))
        .into_response()
}

/// A node as `kubectl get node -o json` shows it (trimmed).
pub fn node(name: &str, ready: bool, zone: &str) -> Value {
    json!({
        "metadata": {
            "name": name,
            "uid": uuid::Uuid::new_v4(),
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m5.large",
                "topology.kubernetes.io/zone": zone,
                "node-role.kubernetes.io/worker": "true",
            }
        },
        "spec": { "podCIDR": "10.42.0.0/24" },
        "status": {
            "capacity": { "cpu": "2", "memory": "8025424Ki", "pods": "110" },
            "conditions": [
                { "type": "MemoryPressure", "status": "False" },
                { "type": "Ready", "status": if ready { "True" } else { "False" } }
            ],
            "nodeInfo": { "kubeletVersion": "v1.31.2+k3s1", "osImage": "Ubuntu 24.04 LTS" }
        }
    })
}

pub fn namespace(name: &str) -> Value {
    json!({
        "metadata": { "name": name, "uid": uuid::Uuid::new_v4(),
                      "labels": { "kubernetes.io/metadata.name": name } },
        "spec": { "finalizers": ["kubernetes"] },
        "status": { "phase": "Active" }
    })
}

/// A Deployment like the documentation's `nginx-deployment` example.
pub fn deployment(namespace: &str, name: &str, app: &str, replicas: i32, ready: i32) -> Value {
    json!({
        "metadata": {
            "name": name, "namespace": namespace, "uid": uuid::Uuid::new_v4(),
            "labels": { "app": app, "app.kubernetes.io/name": app }
        },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": app } },
            "template": {
                "metadata": { "labels": { "app": app } },
                "spec": { "containers": [
                    { "name": "nginx", "image": "nginx:1.14.2", "ports": [{ "containerPort": 80 }] }
                ] }
            }
        },
        "status": { "replicas": replicas, "readyReplicas": ready, "availableReplicas": ready }
    })
}

/// A CronJob like the documentation's `hello` example.
pub fn cronjob(namespace: &str, name: &str) -> Value {
    json!({
        "metadata": { "name": name, "namespace": namespace, "uid": uuid::Uuid::new_v4() },
        "spec": {
            "schedule": "* * * * *",
            "jobTemplate": { "spec": { "template": { "spec": {
                "containers": [{ "name": "hello", "image": "busybox:1.28",
                                 "command": ["/bin/sh", "-c", "date; echo Hello"] }],
                "restartPolicy": "OnFailure"
            } } } }
        },
        "status": { "active": [{ "kind": "Job", "name": format!("{name}-28812345") }] }
    })
}
