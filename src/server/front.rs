//! The node as the HTTP front sees it: the [`Node`] and what only HTTP
//! needs beside it (signing-key cache, request ids, access log, HTTP
//! metrics and who may read them, virtual-hosted-style domain, minimum
//! body rate).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::node::Node;
use crate::s3::sigv4::SigningKeyCache;

pub struct Front {
    pub node: Arc<Node>,
    pub keys: SigningKeyCache,
    /// Virtual-hosted-style requests: `<bucket>.<base_domain>`.
    pub base_domain: Option<String>,
    request_ids: AtomicU64,
    /// One info line per request.
    access_log: AtomicBool,
    pub metrics: super::metrics::HttpMetrics,
    /// Who may read `/metrics` and whether it names buckets.
    pub metrics_options: parking_lot::RwLock<crate::config::MetricsConfig>,
    /// The rate request bodies must come at (set by `serve`).
    pub body_min_rate: Option<super::body_rate::MinRate>,
}

impl Front {
    pub fn new(node: Arc<Node>, base_domain: Option<String>) -> Front {
        Front {
            node,
            keys: SigningKeyCache::new(),
            base_domain,
            request_ids: AtomicU64::new(crate::clock::now_nanos() & 0x0000_FFFF_FFFF_FFFF),
            access_log: AtomicBool::new(false),
            metrics: super::metrics::HttpMetrics::default(),
            metrics_options: parking_lot::RwLock::new(crate::config::MetricsConfig::default()),
            body_min_rate: None,
        }
    }

    /// The next request id.
    pub fn next_request_id(&self) -> u64 {
        self.request_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub fn set_access_log(&self, on: bool) {
        self.access_log.store(on, Ordering::Relaxed);
    }

    pub fn access_log(&self) -> bool {
        self.access_log.load(Ordering::Relaxed)
    }
}
