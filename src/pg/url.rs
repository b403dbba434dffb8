//! The connection URL (libpq's `postgresql://user:password@host:port/db?...`)
//! read into a [`Config`].

use std::time::Duration;

use super::config::{ChannelBinding, Config, RootCert, SslMode};
use super::error::Error;
use crate::percent::decode;

impl std::str::FromStr for Config {
    type Err = Error;

    fn from_str(url: &str) -> Result<Config, Error> {
        let bad = |why: &str| Error::Config(format!("{why} in the URL {}", redact(url)));
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| bad("no postgres:// or postgresql:// scheme"))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let mut config = Config::default();
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            config.user = decode(user).ok_or_else(|| bad("a bad %-escape in the user"))?;
            if let Some(p) = password {
                config.password =
                    Some(decode(p).ok_or_else(|| bad("a bad %-escape in the password"))?);
            }
        }
        if !hostport.is_empty() {
            let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
                let (h, after) = v6.split_once(']').ok_or_else(|| bad("an unclosed [ ]"))?;
                (h.to_string(), after.strip_prefix(':'))
            } else {
                match hostport.rsplit_once(':') {
                    Some((h, p)) => (h.to_string(), Some(p)),
                    None => (hostport.to_string(), None),
                }
            };
            if !host.is_empty() {
                let host = decode(&host).ok_or_else(|| bad("a bad %-escape in the host"))?;
                config = config.host(&host);
            }
            if let Some(port) = port.filter(|p| !p.is_empty()) {
                config.port = port
                    .parse()
                    .map_err(|_| bad("a port that is not a number"))?;
            }
        }
        if !path.is_empty() {
            config.dbname =
                Some(decode(path).ok_or_else(|| bad("a bad %-escape in the database"))?);
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v).ok_or_else(|| bad("a bad %-escape in a parameter"))?;
            match k {
                "host" => config = config.host(&v),
                "port" => {
                    config.port = v.parse().map_err(|_| bad("a port that is not a number"))?
                }
                "user" => config.user = v,
                "password" => config.password = Some(v),
                "dbname" => config.dbname = Some(v),
                "application_name" => config.application_name = Some(v),
                "statement_cache_size" => {
                    config.statement_cache = v
                        .parse()
                        .map_err(|_| bad("a statement_cache_size that is not a number"))?;
                }
                "connect_timeout" => {
                    let secs: u64 = v
                        .parse()
                        .map_err(|_| bad("a connect_timeout that is not seconds"))?;
                    config.connect_timeout = Duration::from_secs(secs);
                }
                "options" => {
                    // `-c a=b -c c=d`: kept as settings.
                    let mut words = v.split_whitespace();
                    while let Some(w) = words.next() {
                        let setting = match w.strip_prefix("-c") {
                            Some("") => words.next().unwrap_or(""),
                            Some(s) => s,
                            None => return Err(bad("options other than -c name=value")),
                        };
                        let (n, val) = setting
                            .split_once('=')
                            .ok_or_else(|| bad("an option without '='"))?;
                        config.options.push((n.into(), val.into()));
                    }
                }
                "sslmode" => {
                    config.ssl_mode = SslMode::parse(&v).ok_or_else(|| {
                        bad("an sslmode other than disable, allow, prefer, require, \
                             verify-ca or verify-full")
                    })?;
                }
                "sslrootcert" => {
                    config.ssl_root_cert = Some(if v == "system" {
                        RootCert::System
                    } else {
                        RootCert::File(v.into())
                    });
                }
                "sslsni" => {
                    config.ssl_sni = match v.as_str() {
                        "1" => true,
                        "0" => false,
                        _ => return Err(bad("an sslsni other than 0 or 1")),
                    };
                }
                "channel_binding" => {
                    config.channel_binding = match v.as_str() {
                        "disable" => ChannelBinding::Disable,
                        "prefer" => ChannelBinding::Prefer,
                        "require" => ChannelBinding::Require,
                        _ => {
                            return Err(bad(
                                "a channel_binding other than disable, prefer or require",
                            ));
                        }
                    };
                }
                _ => config.options.push((k.into(), v)),
            }
        }
        Ok(config)
    }
}

/// The URL with its password replaced, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pg::config::Host;

    #[test]
    fn urls_parse_with_escapes_ports_sockets_and_options() {
        let c: Config =
            "postgresql://a%40b:p%3Ass@[::1]:7000/d%20b?options=-c%20statement_timeout%3D5s"
                .parse()
                .unwrap();
        assert_eq!(c.user, "a@b");
        assert_eq!(c.password.as_deref(), Some("p:ss"));
        assert_eq!(c.host, Host::Tcp("::1".into()));
        assert_eq!((c.port, c.get_dbname()), (7000, "d b"));
        assert_eq!(
            c.options_param().as_deref(),
            Some("-c statement_timeout=5s")
        );
        let c: Config = "postgres://u@%2Ftmp%2Fpg:5433/db".parse().unwrap();
        assert_eq!(c.host, Host::Unix("/tmp/pg".into()));
        assert_eq!(c.port, 5433);
        for bad in [
            "mysql://x",
            "postgres://u@h:port/db",
            "postgres://u@h/%zz",
            "postgres://h/d?sslmode=required",
            "postgres://h/d?sslsni=yes",
            "postgres://h/d?channel_binding=always",
        ] {
            let e = bad.parse::<Config>().unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}: {e}");
        }
        let c: Config = "postgres://h/d?sslmode=verify-ca&sslrootcert=%2Fetc%2Fca.pem&sslsni=0"
            .parse()
            .unwrap();
        assert_eq!(c.ssl_mode, SslMode::VerifyCa);
        assert_eq!(c.ssl_root_cert, Some(RootCert::File("/etc/ca.pem".into())));
        assert!(!c.ssl_sni);
        let c: Config = "postgres://h/d".parse().unwrap();
        assert_eq!(
            (c.ssl_mode, c.ssl_root_cert, c.ssl_sni, c.channel_binding),
            (SslMode::Prefer, None, true, ChannelBinding::Prefer)
        );
        let e = "postgres://u:hunter2@h:x/d".parse::<Config>().unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
