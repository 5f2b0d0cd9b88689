//! Every JSON response the API suite receives is checked against the OpenAPI document
//! the server serves (`GET /api/v1/openapi.json`), not against a file: the operation is
//! found by method and path template, the response by status (or `N`XX, or `default`),
//! and the body is validated with its schema, `$ref`s resolved and formats checked.
//!
//! `spawn_app` puts [`check_responses`] around the router, so every request a test sends
//! through `app.router` is checked where it is made: a body the document does not allow,
//! an undocumented operation or status, fails the test at that request with the method,
//! path, status, and each error's instance path and message. Bodies that are not JSON by
//! their content type (pages, CSV, Parquet, metrics) are not checked.
//!
//! One exception: a request for a path or method the document does not have is answered
//! by the router's own `404 not_found` or `405 method_not_allowed`; those bodies are
//! checked against the document's `Error` schema, and any other answer to an undocumented
//! operation fails.
//!
//! To list every mismatch of a whole run instead of failing at the first one, set
//! `FORECOURT_OPENAPI_DRIFT_LOG=FILE`: mismatches are appended to FILE and not raised.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use jsonschema::{Draft, Registry, Validator};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// The URI the response schemas are registered under, so that `#/components/…` in them
/// resolves inside the document.
const ROOT: &str = "urn:forecourt:openapi";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// What a documented response allows as a body.
enum Allowed {
    /// No content documented: a JSON body is not allowed.
    Empty,
    /// Content documented, but only in other media types.
    NotJson(Vec<String>),
    /// JSON without a schema: any JSON.
    AnyJson,
    /// JSON with a schema, by its key in the validators.
    Schema(usize),
}

struct Operation {
    method: String,
    template: String,
    /// The template's segments; `None` for a `{parameter}`.
    segments: Vec<Option<String>>,
    /// Response key ("200", "4XX", "default") and what it allows.
    responses: Vec<(String, Allowed)>,
}

/// The served document, compiled: operations and one validator per response schema.
pub struct Checker {
    operations: Vec<Operation>,
    validators: Vec<Validator>,
    /// Where each validator's schema is in the document, to name it in errors.
    origins: Vec<String>,
    /// The container of the schemas in the compiled resource (`$defs`, `definitions`).
    defs_key: &'static str,
    /// The document's `Error` schema, for the router's own 404 and 405.
    error: Option<usize>,
}

impl Checker {
    /// Compiles `doc`, an OpenAPI 3.0 or 3.1 document. Errors name what cannot be used.
    pub fn new(doc: &Value) -> Result<Checker, String> {
        let version = doc["openapi"].as_str().unwrap_or_default();
        let (draft, defs_key) = if version.starts_with("3.1") {
            (Draft::Draft202012, "$defs")
        } else if version.starts_with("3.0") {
            // OpenAPI 3.0's schema object is draft 4 with `nullable`.
            (Draft::Draft4, "definitions")
        } else {
            return Err(format!("unsupported OpenAPI version {version:?}"));
        };
        let openapi30 = draft == Draft::Draft4;
        let prefix = server_path(doc);
        let mut schemas: Vec<Value> = Vec::new();
        let mut origins: Vec<String> = Vec::new();
        let mut operations = Vec::new();
        let paths = doc["paths"]
            .as_object()
            .ok_or("the document has no paths")?;
        for (path, item) in paths {
            let item = resolve(doc, item)?;
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let op = resolve(doc, op)?;
                let mut responses = Vec::new();
                for (key, response) in op["responses"].as_object().into_iter().flatten() {
                    let response = resolve(doc, response)?;
                    let body = match response.get("content").and_then(Value::as_object) {
                        None => Allowed::Empty,
                        Some(content) if content.is_empty() => Allowed::Empty,
                        Some(content) => match content.iter().find(|(m, _)| is_json_media(m)) {
                            None => Allowed::NotJson(content.keys().cloned().collect()),
                            Some((media_type, media)) => match media.get("schema") {
                                None => Allowed::AnyJson,
                                Some(s) => {
                                    schemas.push(s.clone());
                                    origins.push(format!(
                                        "/paths/{}/{method}/responses/{}/content/{}/schema",
                                        escape(path),
                                        escape(key),
                                        escape(media_type)
                                    ));
                                    Allowed::Schema(schemas.len() - 1)
                                }
                            },
                        },
                    };
                    responses.push((key.clone(), body));
                }
                let template = format!("{prefix}{path}");
                let segments = template
                    .split('/')
                    .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_string()))
                    .collect();
                operations.push(Operation {
                    method: method.to_string(),
                    template,
                    segments,
                    responses,
                });
            }
        }
        let error = doc.pointer("/components/schemas/Error").is_some().then(|| {
            schemas.push(json!({"$ref": "#/components/schemas/Error"}));
            origins.push("/components/schemas/Error".into());
            schemas.len() - 1
        });
        // One resource holding the components and every response schema, so that the
        // schemas' own `$ref`s ("#/components/schemas/…") resolve against it.
        let mut root = Map::new();
        root.insert(
            "components".into(),
            doc.get("components").cloned().unwrap_or(json!({})),
        );
        root.insert(
            defs_key.into(),
            Value::Object(
                schemas
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| (i.to_string(), s))
                    .collect(),
            ),
        );
        let mut root = Value::Object(root);
        if openapi30 {
            nullable_to_null_type(&mut root);
        }
        let count = root[defs_key].as_object().map_or(0, Map::len);
        let registry = Registry::new()
            .draft(draft)
            .add(ROOT, root)
            .and_then(|r| r.prepare())
            .map_err(|e| format!("the document's schemas do not load: {e}"))?;
        let mut options = jsonschema::options()
            .with_draft(draft)
            .should_validate_formats(true)
            .with_registry(&registry);
        if openapi30 {
            // Draft 4 predates these formats; OpenAPI 3.0 documents use them.
            options = options
                .with_format("uuid", is_uuid)
                .with_format("date", |s: &str| {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() && s.len() == 10
                });
        }
        let validators = (0..count)
            .map(|i| {
                options
                    .build(&json!({"$ref": format!("{ROOT}#/{defs_key}/{i}")}))
                    .map_err(|e| format!("a response schema does not compile: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Checker {
            operations,
            validators,
            origins,
            defs_key,
            error,
        })
    }

    /// Checks one response: `Ok` when the document allows it or it is not JSON, else
    /// why not, naming method, path, status and each schema error with its instance path.
    pub fn check(
        &self,
        method: &str,
        path: &str,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), String> {
        if !content_type.is_some_and(is_json_media) {
            return Ok(());
        }
        let method = method.to_ascii_lowercase();
        let bare = path.split(['?', '#']).next().unwrap_or_default();
        let what = format!("{} {path} -> {status}", method.to_ascii_uppercase());
        let instance: Value = serde_json::from_slice(body)
            .map_err(|e| format!("{what}: the body is not JSON ({e}): {}", preview(body)))?;
        let fail = |why: String| Err(format!("{what}: {why}\n  body: {}", preview(body)));
        let Some(op) = self.operation(&method, bare) else {
            // The router's own answer to a route that does not exist.
            let refusal = match status {
                404 => Some("not_found"),
                405 => Some("method_not_allowed"),
                _ => None,
            };
            if let (Some(code), Some(i)) = (refusal, self.error) {
                if instance["error"]["code"] == code {
                    return self.validate(i, &instance).or_else(fail);
                }
            }
            return fail(format!(
                "the OpenAPI document has no operation {} for this path",
                method.to_ascii_uppercase()
            ));
        };
        let on = format!(
            "operation {} {}",
            op.method.to_ascii_uppercase(),
            op.template
        );
        let code = status.to_string();
        let range = format!("{}XX", status / 100);
        let found = op
            .responses
            .iter()
            .find(|(k, _)| *k == code)
            .or_else(|| {
                op.responses
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(&range))
            })
            .or_else(|| op.responses.iter().find(|(k, _)| k == "default"));
        let Some((key, allowed)) = found else {
            let documented: Vec<&str> = op.responses.iter().map(|(k, _)| k.as_str()).collect();
            return fail(format!(
                "{on} does not document status {status} (it documents {})",
                documented.join(", ")
            ));
        };
        match allowed {
            Allowed::AnyJson => Ok(()),
            Allowed::Empty => fail(format!(
                "{on}, response {key}: documents no body, but a JSON body came"
            )),
            Allowed::NotJson(types) => fail(format!(
                "{on}, response {key}: documents {}, but a JSON body came",
                types.join(", ")
            )),
            Allowed::Schema(i) => self
                .validate(*i, &instance)
                .or_else(|e| fail(format!("{on}, response {key}: {e}"))),
        }
    }

    fn validate(&self, i: usize, instance: &Value) -> Result<(), String> {
        let errors: Vec<String> = self.validators[i]
            .iter_errors(instance)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".to_string() } else { at };
                // A path inside the compiled copy, told as the place in the document.
                let schema = e.schema_path().to_string();
                let copy = format!("/{}/{i}", self.defs_key);
                let schema = match schema.strip_prefix(&copy) {
                    Some(rest) => format!("{}{rest}", self.origins[i]),
                    None => schema,
                };
                format!("\n  - at {at}: {e} (schema {schema})")
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the body does not match the schema:{}",
                errors.concat()
            ))
        }
    }

    /// The operation for `method` on the template matching `path`; where several
    /// templates match, the one with the most literal segments (`/a/b` before `/a/{x}`).
    fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let parts: Vec<&str> = path.split('/').collect();
        self.operations
            .iter()
            .filter(|op| op.method == method && op.segments.len() == parts.len())
            .filter(|op| {
                op.segments.iter().zip(&parts).all(|(s, p)| match s {
                    Some(literal) => literal == p,
                    None => !p.is_empty(),
                })
            })
            .max_by_key(|op| op.segments.iter().filter(|s| s.is_some()).count())
    }
}

/// The path part of the document's first server URL ("" when none), which prefixes
/// every path template.
fn server_path(doc: &Value) -> String {
    let url = doc["servers"][0]["url"].as_str().unwrap_or_default();
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => url,
    };
    path.trim_end_matches('/').to_string()
}

/// A JSON pointer token: `~` as `~0`, `/` as `~1`.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Follows a `$ref` to an object of the document (a response, a path item).
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> Result<&'a Value, String> {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return Ok(v);
        };
        let pointer = r
            .strip_prefix('#')
            .ok_or_else(|| format!("only local references are supported: {r}"))?;
        v = doc
            .pointer(pointer)
            .ok_or_else(|| format!("unresolved reference {r}"))?;
    }
    Err("references nested too deep".into())
}

/// A UUID in its hyphenated form, as RFC 4122 writes it.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn is_json_media(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// OpenAPI 3.0's `nullable: true` as JSON Schema: `null` added to `type` (and to
/// `enum`), or the schema wrapped in `anyOf` with `null` where it has no `type`.
fn nullable_to_null_type(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for child in m.values_mut() {
                nullable_to_null_type(child);
            }
            if m.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::Array(e)) = m.get_mut("enum") {
                    if !e.contains(&Value::Null) {
                        e.push(Value::Null);
                    }
                }
                match m.get("type").cloned() {
                    Some(Value::String(t)) => {
                        m.insert("type".into(), json!([t, "null"]));
                    }
                    Some(_) => {}
                    None => {
                        let inner = Value::Object(std::mem::take(m));
                        m.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(nullable_to_null_type),
        _ => {}
    }
}

fn preview(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    match s.char_indices().nth(600) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.into_owned(),
    }
}

/// The checker for a served document, compiled once per document and test process.
pub fn checker_for(doc: &[u8]) -> Arc<Checker> {
    static CACHE: OnceLock<Mutex<HashMap<Vec<u8>, Arc<Checker>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(c) = cache.get(doc) {
        return c.clone();
    }
    let value: Value = serde_json::from_slice(doc).expect("the served OpenAPI document is JSON");
    let checker = Arc::new(
        Checker::new(&value).unwrap_or_else(|e| panic!("the served OpenAPI document: {e}")),
    );
    cache.insert(doc.to_vec(), checker.clone());
    checker
}

/// Middleware for the suite's router: checks each JSON response against the document
/// and fails the test at the request whose answer the document does not allow.
pub async fn check_responses(
    State(checker): State<Arc<Checker>>,
    req: Request,
    next: Next,
) -> Response {
    let method: Method = req.method().clone();
    // Outside the router, so the whole path, before any nesting strips a prefix.
    let uri = req.uri().clone();
    let res = next.run(req).await;
    let content_type = content_type(res.headers());
    if !content_type.as_deref().is_some_and(is_json_media) {
        return res;
    }
    let status: StatusCode = res.status();
    let (parts, body) = res.into_parts();
    let bytes = body
        .collect()
        .await
        .expect("the response body can be read")
        .to_bytes();
    let path = uri
        .path_and_query()
        .map_or(uri.path(), |p| p.as_str())
        .to_string();
    if let Err(why) = checker.check(
        method.as_str(),
        &path,
        status.as_u16(),
        content_type.as_deref(),
        &bytes,
    ) {
        drift(&why);
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// A response the document does not allow: the test fails here, or with
/// `FORECOURT_OPENAPI_DRIFT_LOG` set, the mismatch is appended to that file.
fn drift(why: &str) {
    match std::env::var_os("FORECOURT_OPENAPI_DRIFT_LOG") {
        Some(file) => {
            let test = std::thread::current().name().unwrap_or("?").to_string();
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(file)
                .expect("the drift log opens");
            writeln!(f, "[{test}] {why}\n").expect("the drift log is written");
        }
        None => panic!("the response does not match the served OpenAPI document:\n{why}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::spawn_app;
    use tower::ServiceExt;

    /// The document the test app serves, and a customer's profile as the API gives it.
    async fn served() -> (Arc<Checker>, String, Value) {
        let app = spawn_app().await;
        let (st, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
        assert_eq!(st, StatusCode::OK);
        let checker = checker_for(doc.to_string().as_bytes());
        let id = app
            .customer(
                "individual",
                "13800138000",
                json!({"industry": "logistics"}),
            )
            .await;
        let path = format!("/api/v1/customers/{id}");
        let (st, profile) = app.get(&path, &app.admin).await;
        assert_eq!(st, StatusCode::OK, "{profile}");
        (checker, path, profile)
    }

    fn check(
        c: &Checker,
        method: &str,
        path: &str,
        status: u16,
        body: &Value,
    ) -> Result<(), String> {
        c.check(
            method,
            path,
            status,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }

    #[tokio::test]
    async fn a_field_the_document_lacks_is_refused() {
        let (c, path, mut profile) = served().await;
        check(&c, "GET", &path, 200, &profile).expect("the profile as served is allowed");
        profile["loyalty_nickname"] = json!("Wei");
        let e = check(&c, "GET", &path, 200, &profile).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "GET {path} -> 200: operation GET /api/v1/customers/{{id}}, response 200"
            )),
            "{e}"
        );
        assert!(
            e.contains("at /: ") && e.contains("loyalty_nickname"),
            "{e}"
        );
        // Nested objects are as strict: a card of the profile with a field too many.
        profile.as_object_mut().unwrap().remove("loyalty_nickname");
        profile["vehicles"] =
            json!([{"vehicle_id": crate::harness::NOW, "plate": "京A12345", "wheels": 4}]);
        let e = check(&c, "GET", &path, 200, &profile).unwrap_err();
        assert!(
            e.contains("at /vehicles/0: ") && e.contains("wheels"),
            "{e}"
        );
        assert!(
            e.contains("at /vehicles/0/vehicle_id: ") && e.contains("uuid"),
            "formats are checked: {e}"
        );
    }

    #[tokio::test]
    async fn types_enums_and_required_fields_are_checked() {
        let (c, path, profile) = served().await;
        let mut wrong = profile.clone();
        wrong["kind"] = json!("alien");
        let e = check(&c, "GET", &path, 200, &wrong).unwrap_err();
        assert!(e.contains("at /kind: "), "{e}");
        let mut wrong = profile.clone();
        wrong["id"] = json!(7);
        assert!(check(&c, "GET", &path, 200, &wrong)
            .unwrap_err()
            .contains("at /id: "));
        let mut wrong = profile.clone();
        wrong.as_object_mut().unwrap().remove("id");
        assert!(check(&c, "GET", &path, 200, &wrong)
            .unwrap_err()
            .contains("\"id\" is a required property"));
    }

    #[tokio::test]
    async fn undocumented_operations_and_statuses_are_refused() {
        let (c, path, profile) = served().await;
        let e = check(&c, "GET", &path, 418, &profile).unwrap_err();
        assert!(e.contains("does not document status 418"), "{e}");
        let e = check(&c, "PATCH", &path, 200, &profile).unwrap_err();
        assert!(e.contains("no operation PATCH"), "{e}");
        let e = check(&c, "GET", "/api/v1/nothing-here", 200, &json!({})).unwrap_err();
        assert!(e.contains("no operation GET"), "{e}");
        // The router's own refusal of a route it does not have is an error body.
        let nf = json!({"error": {"code": "not_found", "message": "no such route"}});
        check(&c, "GET", "/api/v1/nothing-here", 404, &nf).unwrap();
        let e = check(
            &c,
            "GET",
            "/api/v1/nothing-here",
            404,
            &json!({"error": {"code": "not_found"}}),
        )
        .unwrap_err();
        assert!(e.contains("message"), "{e}");
        // Bodies that are not JSON by their content type are not checked.
        c.check("GET", &path, 418, Some("text/csv"), b"a,b")
            .unwrap();
        c.check("GET", &path, 200, None, b"<html>").unwrap();
        let e = c
            .check("GET", &path, 200, Some("application/json"), b"<html>")
            .unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
    }

    /// Customers written in bulk (`forecourt simulate`) are answered like any other: their
    /// vehicles' ids are UUIDs, as the document says.
    #[tokio::test]
    async fn vehicles_written_in_bulk_have_uuid_ids() {
        use forecourt_store::{bulk::BulkCustomer, NewCustomer, NewVehicle};
        let app = spawn_app().await;
        let id = forecourt_store::new_id();
        let vehicle = |plate: &str| NewVehicle {
            plate: plate.into(),
            ..NewVehicle::default()
        };
        let mut tx = app.store.begin().await.unwrap();
        tx.create_customers_bulk(&[BulkCustomer {
            customer_id: id.clone(),
            created_at: crate::harness::now_us(),
            customer: NewCustomer {
                member_code: "8800000001".into(),
                kind: "individual".into(),
                name: "李娜".into(),
                vehicles: vec![vehicle("京A12345"), vehicle("京B54321")],
                ..NewCustomer::default()
            },
        }])
        .await
        .unwrap();
        tx.commit().await.unwrap();
        // The harness checks the profile against the document (`format: uuid`).
        let (st, profile) = app
            .get(&format!("/api/v1/customers/{id}"), &app.admin)
            .await;
        assert_eq!(st, StatusCode::OK, "{profile}");
        let ids: Vec<&str> = profile["vehicles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["vehicle_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 2, "{profile}");
        assert_ne!(ids[0], ids[1]);
        assert!(ids.iter().all(|v| is_uuid(v)), "{ids:?}");
    }

    /// Through the harness's middleware: a handler that answers with a field the
    /// document lacks fails the test at the request.
    #[tokio::test]
    #[should_panic(expected = "does not match the served OpenAPI document")]
    async fn the_suite_fails_at_a_request_whose_answer_drifted() {
        let (c, path, mut profile) = served().await;
        profile["loyalty_nickname"] = json!("Wei");
        let router = axum::Router::new()
            .route(
                "/api/v1/customers/{id}",
                axum::routing::get(move || async move { axum::Json(profile) }),
            )
            .layer(axum::middleware::from_fn_with_state(c, check_responses));
        let req = axum::http::Request::get(&path).body(Body::empty()).unwrap();
        let _ = router.oneshot(req).await;
    }

    #[test]
    fn openapi_3_0_nullable_and_a_server_prefix() {
        let doc = json!({
            "openapi": "3.0.3",
            "servers": [{"url": "https://forecourt.example/api/v1"}],
            "paths": {"/things/{id}": {"get": {"responses": {
                "200": {"description": "a thing", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                "default": {"$ref": "#/components/responses/Oops"}
            }}}},
            "components": {
                "schemas": {"Thing": {"type": "object", "additionalProperties": false, "required": ["id"], "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "colour": {"type": "string", "enum": ["red", "blue"], "nullable": true}
                }}},
                "responses": {"Oops": {"description": "an error", "content": {"application/json": {"schema": {"type": "object", "required": ["error"]}}}}}
            }
        });
        let c = Checker::new(&doc).unwrap();
        let id = "0192f0c4-7c1e-7a51-9a2e-3f6a1b2c3d4e";
        let ok = |v: Value, status| check(&c, "GET", "/api/v1/things/1", status, &v);
        ok(json!({"id": id, "colour": null}), 200).unwrap();
        ok(json!({"id": id, "colour": "red"}), 200).unwrap();
        assert!(ok(json!({"id": id, "colour": "green"}), 200).is_err());
        assert!(ok(json!({"id": "T-1"}), 200)
            .unwrap_err()
            .contains("at /id: "));
        ok(json!({"error": {}}), 500).unwrap();
        let e = ok(json!({}), 500).unwrap_err();
        assert!(
            e.contains("(schema /paths/~1things~1{id}/get/responses/default/content/application~1json/schema/required)"),
            "an inline schema is named by its place in the document: {e}"
        );
        assert!(
            check(&c, "GET", "/things/1", 200, &json!({"id": id})).is_err(),
            "the server's path prefixes every template"
        );
    }
}
