//! [`Router`]: method and path to handler, with path parameters
//! (FastAPI's `@app.get("/users/{id}")`).

use std::rc::Rc;

use super::request::Request;
use super::response::Response;

/// A handler: a plain function of the request (it may await anything).
pub(crate) type Handler = Rc<dyn Fn(&Request) -> Response>;

struct Route {
    /// The method it answers (`GET` also answers `HEAD`).
    method: String,
    /// The pattern's segments: literal, or `{name}` (a parameter).
    segments: Vec<Segment>,
    /// What answers it.
    handler: Handler,
}

enum Segment {
    Literal(String),
    Param(String),
}

/// Routes requests by method and path; `{name}` in a pattern matches one
/// path segment, which the handler reads with [`Request::param`].
///
/// A path that no route matches gets 404; a path that matches only with
/// other methods gets 405 with an `Allow` header.
///
/// ```
/// use yieldfrom::http::{Request, Response, Router};
/// let router = Router::new()
///     .get("/users/{id}", |req| Response::text(format!("user {}", req.param("id").unwrap())));
/// assert_eq!(router.handle(Request::new("GET", "/users/7")).body(), b"user 7");
/// assert_eq!(router.handle(Request::new("GET", "/nope")).status(), 404);
/// assert_eq!(router.handle(Request::new("DELETE", "/users/7")).status(), 405);
/// ```
#[derive(Default)]
pub struct Router {
    /// The routes, tried in the order they were added.
    routes: Vec<Route>,
}

impl Router {
    /// A router with no routes.
    ///
    /// ```
    /// use yieldfrom::http::{Request, Router};
    /// assert_eq!(Router::new().handle(Request::new("GET", "/")).status(), 404);
    /// ```
    pub fn new() -> Router {
        Router::default()
    }

    /// Adds a route for `method` (upper case, as sent) and `pattern`.
    ///
    /// ```
    /// use yieldfrom::http::{Request, Response, Router};
    /// let router = Router::new().route("PATCH", "/users/{id}", |_| Response::new(204));
    /// assert_eq!(router.handle(Request::new("PATCH", "/users/1")).status(), 204);
    /// ```
    pub fn route(
        mut self,
        method: &str,
        pattern: &str,
        handler: impl Fn(&Request) -> Response + 'static,
    ) -> Router {
        let segments = split(pattern)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.to_string()),
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        self.routes.push(Route {
            method: method.to_string(),
            segments,
            handler: Rc::new(handler),
        });
        self
    }

    /// Adds a `GET` route (which also answers `HEAD`).
    ///
    /// ```
    /// use yieldfrom::http::{Request, Response, Router};
    /// let router = Router::new().get("/health", |_| Response::text("ok"));
    /// assert_eq!(router.handle(Request::new("GET", "/health")).body(), b"ok");
    /// assert_eq!(router.handle(Request::new("HEAD", "/health")).status(), 200);
    /// ```
    pub fn get(self, pattern: &str, handler: impl Fn(&Request) -> Response + 'static) -> Router {
        self.route("GET", pattern, handler)
    }

    /// Adds a `POST` route.
    ///
    /// ```
    /// use yieldfrom::http::{Request, Response, Router};
    /// let router = Router::new().post("/echo", |req| Response::new(200).with_body(req.body().to_vec()));
    /// assert_eq!(router.handle(Request::new("POST", "/echo").with_body("ping")).body(), b"ping");
    /// ```
    pub fn post(self, pattern: &str, handler: impl Fn(&Request) -> Response + 'static) -> Router {
        self.route("POST", pattern, handler)
    }

    /// Adds a `PUT` route.
    ///
    /// ```
    /// use yieldfrom::http::{Request, Response, Router};
    /// let router = Router::new().put("/files/{name}", |_| Response::new(201));
    /// assert_eq!(router.handle(Request::new("PUT", "/files/a.txt")).status(), 201);
    /// ```
    pub fn put(self, pattern: &str, handler: impl Fn(&Request) -> Response + 'static) -> Router {
        self.route("PUT", pattern, handler)
    }

    /// Adds a `DELETE` route.
    ///
    /// ```
    /// use yieldfrom::http::{Request, Response, Router};
    /// let router = Router::new().delete("/users/{id}", |_| Response::new(204));
    /// let r = router.handle(Request::new("GET", "/users/3"));
    /// assert_eq!((r.status(), r.header("Allow")), (405, Some("DELETE")));
    /// ```
    pub fn delete(self, pattern: &str, handler: impl Fn(&Request) -> Response + 'static) -> Router {
        self.route("DELETE", pattern, handler)
    }

    /// Answers `req`: the matching route's handler, or 404 / 405.
    ///
    /// ```
    /// use yieldfrom::http::{Request, Response, Router};
    /// // A handler tested without a server or a socket.
    /// let router = Router::new().get("/users/{id}", |req| match req.param("id").unwrap().parse::<u32>() {
    ///     Ok(id) => Response::json(&serde_json::json!({ "id": id })),
    ///     Err(_) => Response::new(422),
    /// });
    /// assert_eq!(router.handle(Request::new("GET", "/users/x")).status(), 422);
    /// ```
    pub fn handle(&self, mut req: Request) -> Response {
        let mut allowed: Vec<&str> = Vec::new();
        for route in &self.routes {
            let Some(params) = matches(&route.segments, req.path()) else {
                continue;
            };
            let method_ok =
                route.method == req.method() || (route.method == "GET" && req.method() == "HEAD");
            if method_ok {
                req.set_params(params);
                return (route.handler)(&req);
            }
            allowed.push(&route.method);
        }
        if allowed.is_empty() {
            Response::text("Not Found").with_status(404)
        } else {
            allowed.dedup();
            Response::text("Method Not Allowed")
                .with_status(405)
                .with_header("Allow", &allowed.join(", "))
        }
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// The parameters if `path` matches `pattern` (no allocation unless the
/// pattern has parameters).
fn matches(pattern: &[Segment], path: &str) -> Option<Vec<(String, String)>> {
    let mut parts = split(path);
    let mut params = Vec::new();
    for seg in pattern {
        let part = parts.next()?;
        match seg {
            Segment::Literal(lit) if lit == part => {}
            Segment::Literal(_) => return None,
            Segment::Param(name) => params.push((name.clone(), part.to_string())),
        }
    }
    parts.next().is_none().then_some(params)
}

opaque_debug!(Router);
