//! [`Url`]: the parts of an `http`/`https` URL a client needs (RFC 3986,
//! as WHATWG's URL standard reads it for these two schemes), and the
//! percent-encoding of query parameters.
//!
//! Written here rather than taken from the `url` crate: the client needs
//! scheme, host, port and the request target, and ASCII host names only
//! (an internationalised name is refused, saying so, rather than pulling
//! in IDNA tables).

use crate::percent::decode;
use std::fmt;

/// An `http` or `https` URL, split into what a request needs.
///
/// ```
/// use yieldfrom::http::client::Url;
/// let u: Url = "https://api.example.com/v1/users?page=2#top".parse().unwrap();
/// assert_eq!((u.scheme(), u.host(), u.port()), ("https", "api.example.com", 443));
/// assert_eq!(u.target(), "/v1/users?page=2");
/// let v6: Url = "http://[::1]:8080".parse().unwrap();
/// assert_eq!((v6.host(), v6.port(), v6.target()), ("::1", 8080, "/"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Url {
    /// Whether it is `https`.
    tls: bool,
    /// The host (an IPv6 address without brackets).
    host: String,
    /// The port (the scheme's default when none was written).
    port: u16,
    /// Whether the port was written (it then goes into `Host`).
    explicit_port: bool,
    /// Path and query, never empty (`/` at least).
    target: String,
    /// `user:password` before the host, percent-decoded (sent as Basic).
    userinfo: Option<(String, String)>,
}

/// Why a URL was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError(pub(crate) String);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

impl Url {
    /// `http` or `https`.
    ///
    /// ```
    /// use yieldfrom::http::client::Url;
    /// let url: Url = "https://api.example.com/v1".parse().unwrap();
    /// assert_eq!(url.scheme(), "https");
    /// ```
    pub fn scheme(&self) -> &'static str {
        if self.tls { "https" } else { "http" }
    }

    /// Whether requests go over TLS.
    ///
    /// ```
    /// use yieldfrom::http::client::Url;
    /// assert!("https://example.com".parse::<Url>().unwrap().is_tls());
    /// assert!(!"http://example.com".parse::<Url>().unwrap().is_tls());
    /// ```
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The host: a name, or an address (IPv6 without its brackets).
    ///
    /// ```
    /// use yieldfrom::http::client::Url;
    /// assert_eq!("http://[::1]:8080/".parse::<Url>().unwrap().host(), "::1");
    /// ```
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port (the scheme's default when none was written).
    ///
    /// ```
    /// use yieldfrom::http::client::Url;
    /// assert_eq!("https://example.com/".parse::<Url>().unwrap().port(), 443);
    /// assert_eq!("http://example.com:8000/".parse::<Url>().unwrap().port(), 8000);
    /// ```
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target: path and query (`/users?page=2`).
    ///
    /// ```
    /// use yieldfrom::http::client::Url;
    /// assert_eq!("http://example.com/users?page=2#top".parse::<Url>().unwrap().target(), "/users?page=2");
    /// assert_eq!("http://example.com".parse::<Url>().unwrap().target(), "/");
    /// ```
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The `Host` header's value: the host, with the port if it is not
    /// the scheme's default; IPv6 in brackets.
    ///
    /// ```
    /// use yieldfrom::http::client::Url;
    /// assert_eq!("https://example.com:443/".parse::<Url>().unwrap().authority(), "example.com");
    /// assert_eq!("http://[::1]:8080/".parse::<Url>().unwrap().authority(), "[::1]:8080");
    /// ```
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.explicit_port && self.port != default_port(self.tls) {
            format!("{host}:{}", self.port)
        } else {
            host
        }
    }

    /// The user and password written in the URL, if any.
    ///
    /// ```
    /// use yieldfrom::http::client::Url;
    /// let url: Url = "https://ada:secret@example.com/".parse().unwrap();
    /// assert_eq!(url.userinfo(), Some(("ada", "secret")));
    /// ```
    pub fn userinfo(&self) -> Option<(&str, &str)> {
        self.userinfo
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// Whether `other` has the same origin (scheme, host, port): what
    /// decides whether credentials follow a redirect.
    ///
    /// ```
    /// use yieldfrom::http::client::Url;
    /// let a: Url = "https://example.com/a".parse().unwrap();
    /// assert!(a.same_origin(&"https://example.com:443/b".parse().unwrap()));
    /// assert!(!a.same_origin(&"http://example.com/a".parse().unwrap())); // another scheme
    /// ```
    pub fn same_origin(&self, other: &Url) -> bool {
        self.tls == other.tls
            && self.host.eq_ignore_ascii_case(&other.host)
            && self.port == other.port
    }

    /// Adds `name=value` pairs to the query, percent-encoded.
    ///
    /// ```
    /// use yieldfrom::http::client::Url;
    /// let mut url: Url = "http://example.com/search?lang=en".parse().unwrap();
    /// url.append_query(&[("q", "fish & chips")]);
    /// assert_eq!(url.target(), "/search?lang=en&q=fish%20%26%20chips");
    /// ```
    pub fn append_query(&mut self, pairs: &[(&str, &str)]) {
        for (name, value) in pairs {
            self.target
                .push(if self.target.contains('?') { '&' } else { '?' });
            encode_into(name, &mut self.target);
            self.target.push('=');
            encode_into(value, &mut self.target);
        }
    }

    /// Resolves `location` (a redirect's `Location`: absolute, scheme-
    /// relative, absolute-path or relative) against this URL.
    ///
    /// ```
    /// use yieldfrom::http::client::Url;
    /// let base: Url = "https://example.com/docs/intro".parse().unwrap();
    /// assert_eq!(base.join("next").unwrap().target(), "/docs/next");
    /// assert_eq!(base.join("/login").unwrap().target(), "/login");
    /// assert_eq!(base.join("//cdn.example.com/x").unwrap().host(), "cdn.example.com");
    /// ```
    pub fn join(&self, location: &str) -> Result<Url, UrlError> {
        let location = location.trim();
        if location.contains("://") {
            return location.parse();
        }
        if let Some(rest) = location.strip_prefix("//") {
            return format!("{}://{rest}", self.scheme()).parse();
        }
        let mut joined = self.clone();
        joined.userinfo = None;
        let location = location.split('#').next().unwrap_or("");
        joined.target = if location.starts_with('/') {
            location.to_string()
        } else if let Some(query) = location.strip_prefix('?') {
            let path = self.target.split('?').next().unwrap_or("/");
            format!("{path}?{query}")
        } else {
            let path = self.target.split('?').next().unwrap_or("/");
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        if joined.target.is_empty() {
            joined.target.push('/');
        }
        check_target(&joined.target)?;
        Ok(joined)
    }
}

fn default_port(tls: bool) -> u16 {
    if tls { 443 } else { 80 }
}

/// Bytes a target may hold as they are: RFC 3986's unreserved, sub-delims,
/// `:`, `@`, `/`, `?`, and `%` (escapes already made). Spaces, controls,
/// quotes and non-ASCII must be escaped by the caller: sending them raw
/// would let a URL carry a second request line (CRLF injection).
fn check_target(target: &str) -> Result<(), UrlError> {
    match target
        .bytes()
        .find(|&b| !b.is_ascii_graphic() || b"\"<>\\^`{|}".contains(&b))
    {
        None => Ok(()),
        Some(b) => Err(UrlError(format!(
            "the URL's path or query holds the byte {b:#04x} unescaped (percent-encode it)"
        ))),
    }
}

/// Percent-encodes `s` for a query name or value (everything but RFC 3986's
/// unreserved characters).
fn encode_into(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl std::str::FromStr for Url {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Url, UrlError> {
        let bad = |why: &str| UrlError(format!("{why}: {url:?}"));
        let url_trimmed = url.trim();
        let (scheme, rest) = url_trimmed
            .split_once("://")
            .ok_or_else(|| bad("not an absolute URL (no scheme://)"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            _ => return Err(bad("a scheme other than http or https")),
        };
        let rest = rest.split('#').next().unwrap_or("");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(end);
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let userinfo = match userinfo {
            None => None,
            Some(u) => {
                let (user, password) = u.split_once(':').unwrap_or((u, ""));
                Some((
                    decode(user).ok_or_else(|| bad("a bad %-escape in the user"))?,
                    decode(password).ok_or_else(|| bad("a bad %-escape in the password"))?,
                ))
            }
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("an unclosed [ ]"))?;
            h.parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad("an IPv6 address that does not parse"))?;
            match after {
                "" => (h.to_string(), None),
                p => (
                    h.to_string(),
                    Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ]"))?),
                ),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if !host.contains(':')
            && !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(bad(
                "a host name with characters other than ASCII letters, digits, '-', '.' \
                 (write an internationalised name in its xn-- form)",
            ));
        }
        let explicit_port = port.is_some_and(|p| !p.is_empty());
        let port = match port.filter(|p| !p.is_empty()) {
            None => default_port(tls),
            Some(p) => p.parse().map_err(|_| bad("a port that is not a number"))?,
        };
        let target = if target.is_empty() {
            "/".to_string()
        } else if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_string()
        };
        check_target(&target)?;
        Ok(Url {
            tls,
            host: host.to_ascii_lowercase(),
            port,
            explicit_port,
            target,
            userinfo,
        })
    }
}

impl fmt::Display for Url {
    /// The URL without its userinfo (for messages and logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{}://{host}", self.scheme())?;
        if self.port != default_port(self.tls) {
            write!(f, ":{}", self.port)?;
        }
        f.write_str(&self.target)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Url({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_join_and_refuse_what_could_smuggle() {
        let u: Url = "HTTPS://User:p%40ss@Example.COM:8443/a/b?x=1#f"
            .parse()
            .unwrap();
        assert_eq!(u.host(), "example.com");
        assert_eq!(u.port(), 8443);
        assert_eq!(u.authority(), "example.com:8443");
        assert_eq!(u.userinfo(), Some(("User", "p@ss")));
        assert_eq!(u.to_string(), "https://example.com:8443/a/b?x=1");
        assert_eq!(u.join("c").unwrap().target(), "/a/c");
        assert_eq!(u.join("/z?q").unwrap().target(), "/z?q");
        assert_eq!(u.join("?y=2").unwrap().target(), "/a/b?y=2");
        assert_eq!(
            u.join("//other.org/p").unwrap().to_string(),
            "https://other.org/p"
        );
        let elsewhere = u.join("http://other.org/").unwrap();
        assert!(!u.same_origin(&elsewhere));
        assert!(u.same_origin(&u.join("/same").unwrap()));
        assert_eq!(u.join("/same").unwrap().userinfo(), None);
        let mut q: Url = "http://h/s".parse().unwrap();
        q.append_query(&[("q", "a b&c"), ("n", "é")]);
        assert_eq!(q.target(), "/s?q=a%20b%26c&n=%C3%A9");
        assert_eq!("http://h:80/".parse::<Url>().unwrap().authority(), "h");
        for bad in [
            "ftp://h/",
            "h/path",
            "http:///p",
            "http://h:x/",
            "http://[::1/",
            "http://h/a b",
            "http://h/a\r\nX: y",
            "http://bücher.de/",
        ] {
            assert!(bad.parse::<Url>().is_err(), "{bad}");
        }
    }
}
