//! The internal port's routes: `/metrics`, `/health`, `/ready`, `/status`, `/status.json`;
//! anything else is a 404 with a sentence.

use std::convert::Infallible;
use std::sync::Arc;

use warp::http::{header, StatusCode};
use warp::{Filter, Reply};

use super::exposition;
use super::snapshot::Snapshot;
use super::Ops;

fn with_ops(ops: Arc<Ops>) -> impl Filter<Extract = (Arc<Ops>,), Error = Infallible> + Clone {
    warp::any().map(move || ops.clone())
}

fn json(body: &serde_json::Value, status: StatusCode) -> warp::reply::Response {
    warp::reply::with_status(warp::reply::json(body), status).into_response()
}

/// Every route of the internal port.
pub fn routes(
    ops: Arc<Ops>,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Infallible> + Clone {
    let metrics = warp::path!("metrics")
        .and(with_ops(ops.clone()))
        .map(|ops: Arc<Ops>| {
            let text = exposition::render(&ops.rt, &Snapshot::take(&ops.rt));
            warp::reply::with_header(text, header::CONTENT_TYPE, exposition::CONTENT_TYPE)
                .into_response()
        });
    let health = warp::path!("health")
        .and(with_ops(ops.clone()))
        .map(|ops: Arc<Ops>| {
            let body = serde_json::json!({
                "status": "ok",
                "node": ops.rt.node.as_str(),
                "uptime_secs": ops.rt.telemetry.started.elapsed().as_secs(),
            });
            json(&body, StatusCode::OK)
        });
    let ready = warp::path!("ready")
        .and(with_ops(ops.clone()))
        .map(|ops: Arc<Ops>| {
            let not_ready = super::snapshot::not_ready(&ops.rt);
            if not_ready.is_empty() {
                json(&serde_json::json!({ "ready": true }), StatusCode::OK)
            } else {
                let body = serde_json::json!({ "ready": false, "reasons": not_ready });
                json(&body, StatusCode::SERVICE_UNAVAILABLE)
            }
        });
    let page = warp::path!("status").map(|| {
        let mut response = warp::reply::html(super::status::PAGE).into_response();
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("no-cache"),
        );
        response
    });
    let status = warp::path!("status.json")
        .and(with_ops(ops))
        .map(|ops: Arc<Ops>| {
            warp::reply::json(&super::status::status(&ops.rt, &ops.history)).into_response()
        });
    let not_found = warp::any().map(|| {
        let body = serde_json::json!({
            "error": "nothing is served at this path: try /metrics, /health, /ready or /status"
        });
        json(&body, StatusCode::NOT_FOUND)
    });
    warp::get()
        .and(
            metrics
                .or(health)
                .unify()
                .or(ready)
                .unify()
                .or(page)
                .unify()
                .or(status)
                .unify(),
        )
        .or(not_found)
        .unify()
}
