//! CORS on the wire: the preflight `OPTIONS` request (unauthenticated, as
//! browsers send it, and answered from the bucket's rules) and the
//! `Access-Control-*` headers on responses to requests whose `Origin` a
//! rule allows. The rules and their matching are `s3::cors`.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/RESTOPTIONSobject.html>

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use hyper::Response;

use super::header;
use crate::meta::mdlog::CONFIG_CORS;
use crate::object::ObjectStore;
use crate::s3::cors::{requested_headers, Cors, CorsRule};
use crate::s3::{xml, S3Error, S3ErrorCode};
use crate::server::body::ResponseBody;

/// The bucket's CORS rules, if it has any (a bucket that does not exist
/// has none).
fn rules_of(store: &ObjectStore, bucket: &str) -> Result<Option<Cors>, S3Error> {
    match store.bucket_config(bucket, CONFIG_CORS) {
        Ok(Some(doc)) => xml::parse_cors(&doc).map(Some).map_err(|e| {
            S3Error::new(
                S3ErrorCode::InternalError,
                format!("the stored CORS configuration of {bucket}: {}", e.message),
            )
        }),
        Ok(None) => Ok(None),
        Err(e) if e.code == S3ErrorCode::NoSuchBucket => Ok(None),
        Err(e) => Err(e),
    }
}

fn forbidden(what: &str) -> S3Error {
    S3Error::new(
        S3ErrorCode::AccessForbidden,
        format!("CORSResponse: {what}"),
    )
}

/// Answers a preflight `OPTIONS` for `bucket`: 200 with what the first
/// matching rule allows, 403 `AccessForbidden` when the bucket has no
/// rules or none allows the request (a bucket that does not exist answers
/// like one without rules, so an unsigned request learns nothing of
/// which buckets exist), 400 without `Origin` or
/// `Access-Control-Request-Method`.
pub(super) fn preflight(
    store: &ObjectStore,
    bucket: Option<&str>,
    headers: &HeaderMap,
) -> Result<Response<ResponseBody>, S3Error> {
    let insufficient = |what: &str| {
        S3Error::new(
            S3ErrorCode::BadRequest,
            format!("Insufficient information. {what} request header needed."),
        )
    };
    let origin = header(headers, "origin").ok_or_else(|| insufficient("Origin"))?;
    let method = header(headers, "access-control-request-method")
        .ok_or_else(|| insufficient("Access-Control-Request-Method"))?;
    let Some(bucket) = bucket else {
        return Err(forbidden("CORS is not enabled for this bucket."));
    };
    let asked = requested_headers(header(headers, "access-control-request-headers"));
    let cors = rules_of(store, bucket)?
        .ok_or_else(|| forbidden("CORS is not enabled for this bucket."))?;
    let rule = cors.find(origin, method, &asked).ok_or_else(|| {
        forbidden("This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.")
    })?;
    let mut r = Response::new(ResponseBody::empty());
    *r.status_mut() = StatusCode::OK;
    let h = r.headers_mut();
    allow(h, rule, origin);
    if !asked.is_empty() {
        set(h, "access-control-allow-headers", &asked.join(", "));
    }
    set(
        h,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
    Ok(r)
}

/// Adds the `Access-Control-*` headers to the response of a request from
/// `origin` when one of the bucket's rules allows its method; nothing
/// otherwise (the browser then refuses the response to the page).
pub(super) fn add_headers(
    store: &ObjectStore,
    bucket: &str,
    origin: &str,
    method: &Method,
    resp: &mut Response<ResponseBody>,
) {
    let Ok(Some(cors)) = rules_of(store, bucket) else {
        return;
    };
    if let Some(rule) = cors.find(origin, method.as_str(), &[]) {
        let h = resp.headers_mut();
        allow(h, rule, origin);
        set(h, "vary", "Origin");
    }
}

/// What a matching rule allows: origin, methods, exposed headers, how
/// long a preflight may be cached.
fn allow(h: &mut HeaderMap, rule: &CorsRule, origin: &str) {
    let allowed = rule.allow_origin(origin);
    set(h, "access-control-allow-origin", allowed);
    if allowed != "*" {
        set(h, "access-control-allow-credentials", "true");
    }
    set(
        h,
        "access-control-allow-methods",
        &rule.allowed_methods.join(", "),
    );
    if !rule.expose_headers.is_empty() {
        set(
            h,
            "access-control-expose-headers",
            &rule.expose_headers.join(", "),
        );
    }
    if let Some(n) = rule.max_age_seconds {
        set(h, "access-control-max-age", &n.to_string());
    }
}

fn set(h: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}
