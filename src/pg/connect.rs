//! Connecting and logging in: the socket (Unix, TCP, or TCP with TLS in
//! libpq's order of attempts), the startup message, and authentication
//! (trust, cleartext, md5, SCRAM-SHA-256 with or without channel binding).

use std::collections::HashMap;
use std::io;

use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::Message;
use postgres_protocol::message::frontend;

use super::client::Client;
use super::config::{ChannelBinding, Config, Host, RootCert, SslMode};
use super::error::{DbError, Error};
use super::stream::{Stream, next_message};
use crate::net::{TcpStream, UnixStream};
use crate::tls::TlsStream;

/// The most SCRAM-SHA-256 iterations a server may ask for: each costs a
/// hash on this loop's thread at login (node-postgres caps it the same).
const MAX_SCRAM_ITERATIONS: u32 = 100_000;

impl Client {
    /// Connects and logs in (asyncpg's `connect`): trust, cleartext, md5
    /// or SCRAM-SHA-256, whichever the server asks for. The whole takes at
    /// most the config's `connect_timeout`.
    pub fn connect(config: &Config) -> Result<Client, Error> {
        match crate::time::timeout(config.connect_timeout, || connect(config)) {
            Ok(result) => result,
            Err(_) => Err(Error::Io(std::sync::Arc::new(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "connecting and logging in took over {:?}",
                    config.connect_timeout
                ),
            )))),
        }
    }

    /// Connects with the URL in `DATABASE_URL`.
    pub fn connect_env() -> Result<Client, Error> {
        let config =
            Config::from_env().ok_or_else(|| Error::Config("DATABASE_URL is not set".into()))??;
        Client::connect(&config)
    }
}

/// Opens the socket, negotiates TLS as `sslmode` says, and logs in.
///
/// libpq's order of attempts: `prefer` tries TLS and, if the server says
/// no or the TLS attempt fails before the login is done, tries plain on a
/// new connection; `allow` tries plain first and TLS after a refused
/// login. A Unix socket is never encrypted (it never leaves the machine).
fn connect(config: &Config) -> Result<Client, Error> {
    check_tls_settings(config)?;
    if let Host::Unix(dir) = &config.host {
        let path = dir.join(format!(".s.PGSQL.{}", config.port));
        let stream = UnixStream::connect(&path)?;
        stream.describe(|| format!("PostgreSQL at {}", path.display()));
        return log_in(Stream::Unix(stream), config, None);
    }
    match config.ssl_mode {
        SslMode::Disable => log_in(Stream::Tcp(open_tcp(config)?), config, None),
        SslMode::Allow => match log_in(Stream::Tcp(open_tcp(config)?), config, None) {
            Err(Error::Db(refused)) => match connect_tls(config, Required::Yes) {
                Err(Error::Tls(why)) => Err(Error::Tls(format!(
                    "{why} (and the login without TLS was refused: {refused})"
                ))),
                other => other,
            },
            other => other,
        },
        SslMode::Prefer => match connect_tls(config, Required::No) {
            Err(Error::Tls(_) | Error::Db(_)) => {
                log_in(Stream::Tcp(open_tcp(config)?), config, None)
            }
            other => other,
        },
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            connect_tls(config, Required::Yes)
        }
    }
}

/// Whether a server that refuses TLS is an error (`require` and above) or
/// answered with a plain login on the same socket (`prefer`).
#[derive(PartialEq, Eq)]
enum Required {
    Yes,
    No,
}

/// Refuses settings that cannot work together, before any socket opens
/// (libpq's own refusals, with its reasons).
fn check_tls_settings(config: &Config) -> Result<(), Error> {
    if config.ssl_root_cert == Some(RootCert::System) && config.ssl_mode != SslMode::VerifyFull {
        return Err(Error::Config(format!(
            "sslrootcert=system needs sslmode=verify-full (with sslmode={} a public CA's \
             certificate for any name would be accepted)",
            config.ssl_mode.as_str()
        )));
    }
    if config.channel_binding == ChannelBinding::Require && config.ssl_mode == SslMode::Disable {
        return Err(Error::Config(
            "channel_binding=require needs TLS, and sslmode=disable turns it off".into(),
        ));
    }
    Ok(())
}

/// A TCP connection to the host, with `TCP_NODELAY` and keepalive set.
fn open_tcp(config: &Config) -> Result<TcpStream, Error> {
    let Host::Tcp(host) = &config.host else {
        unreachable!("a Unix socket is opened by `connect`")
    };
    // A name is resolved off the loop's thread, its addresses tried with
    // Happy Eyeballs.
    let stream = TcpStream::connect((host.as_str(), config.port))?;
    stream.describe(|| format!("PostgreSQL at {host}:{}", config.port));
    let _ = stream.set_nodelay(true);
    if let Some(idle) = config.keepalive {
        set_keepalive(&stream, idle);
    }
    Ok(stream)
}

/// Opens a connection, asks for TLS (`SSLRequest`), runs the handshake on
/// the same socket, and logs in over it, binding the login to the channel
/// when SCRAM allows. A server that says `N` gets a plain login unless TLS
/// is `required`.
fn connect_tls(config: &Config, required: Required) -> Result<Client, Error> {
    let Host::Tcp(host) = &config.host else {
        unreachable!("a Unix socket is opened by `connect`")
    };
    let tls_config = tls_client_config(config)?;
    let tcp = open_tcp(config)?;
    let mut out = BytesMut::new();
    frontend::ssl_request(&mut out);
    tcp.write_all(&out)?;
    let mut answer = [0u8; 64];
    let n = tcp.read(&mut answer)?;
    match answer[..n] {
        [] => Err(Error::Io(std::sync::Arc::new(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the server closed the connection at the TLS request",
        )))),
        [b'S'] => {
            let tls = TlsStream::connect_boxed(tcp, host, tls_config, None).map_err(|e| match e
                .kind()
            {
                io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
                    let why = e.to_string();
                    Error::Tls(why.strip_prefix("TLS: ").unwrap_or(&why).to_string())
                }
                _ => e.into(),
            })?;
            let end_point = tls.tls_server_end_point().ok();
            log_in(Stream::Tls(tls), config, end_point)
        }
        // Bytes after the 'S' came before the handshake, unencrypted: from
        // whoever sits in the path (CVE-2021-23222). Trusting them would
        // let them pose as the server's first encrypted words.
        [b'S', ..] => Err(Error::protocol(format!(
            "the server accepted TLS and sent {} more unencrypted byte(s) before the \
             handshake (something in the path may be injecting them)",
            n - 1
        ))),
        [b'N'] if required == Required::No => log_in(Stream::Tcp(tcp), config, None),
        [b'N'] => Err(Error::Tls(format!(
            "the server does not accept TLS connections, and sslmode={} requires it",
            config.ssl_mode.as_str()
        ))),
        // An error before any negotiation (too many connections, a server
        // starting up): the rest of the message follows.
        [b'E', ..] => {
            let mut buf = BytesMut::from(&answer[..n]);
            let mut scratch = [0u8; 1024];
            match next_message(&Stream::Tcp(tcp), &mut buf, &mut scratch)? {
                Message::ErrorResponse(body) => Err(DbError::parse(body.fields())?.into()),
                _ => Err(Error::protocol("an unexpected answer to the TLS request")),
            }
        }
        _ => Err(Error::protocol(format!(
            "the answer {:?} to the TLS request (S or N was expected)",
            answer[0] as char
        ))),
    }
}

/// The rustls configuration `config` asks for: given, or built once from
/// `sslmode`, `sslrootcert` and `sslsni` with libpq's meanings.
fn tls_client_config(config: &Config) -> Result<std::sync::Arc<crate::tls::ClientConfig>, Error> {
    if let Some(made) = config.tls.get() {
        return Ok(made.clone());
    }
    use crate::tls::Verify;
    let default_file = || {
        std::env::var_os("HOME")
            .map(|home| std::path::Path::new(&home).join(".postgresql/root.crt"))
            .filter(|p| p.is_file())
    };
    let file = match &config.ssl_root_cert {
        Some(RootCert::File(path)) => Some(path.clone()),
        Some(RootCert::System) => None,
        None => default_file(),
    };
    let verify = match config.ssl_mode {
        SslMode::VerifyFull => Verify::Full,
        SslMode::VerifyCa => Verify::Chain,
        // libpq: a root file given (or at its default place) makes
        // `require` check the chain, as `verify-ca` does.
        SslMode::Require if file.is_some() => Verify::Chain,
        _ => Verify::Nothing,
    };
    let tls_error = |e: io::Error| Error::Tls(e.to_string());
    let roots = if verify == Verify::Nothing {
        crate::tls::RootCertStore::empty()
    } else if config.ssl_root_cert == Some(RootCert::System) {
        crate::tls::system_roots().map_err(tls_error)?
    } else if let Some(path) = file {
        crate::tls::roots_from_pem(&path).map_err(tls_error)?
    } else {
        return Err(Error::Config(format!(
            "sslmode={} checks the server's certificate, and no root certificate was given: \
             set sslrootcert to a PEM file of the CA, or to `system` for the system's roots \
             (libpq's default, ~/.postgresql/root.crt, does not exist)",
            config.ssl_mode.as_str()
        )));
    };
    let made =
        crate::tls::client_config_verifying(roots, verify, config.ssl_sni).map_err(tls_error)?;
    Ok(config.tls.get_or_init(|| made).clone())
}

/// Logs in over `stream` and starts the connection's reader and writer.
/// `end_point` is the TLS channel's binding data, when it is TLS.
fn log_in(stream: Stream, config: &Config, end_point: Option<Vec<u8>>) -> Result<Client, Error> {
    let mut buf = BytesMut::with_capacity(8192);
    let tls = matches!(stream, Stream::Tls(_));
    let login = startup(&stream, config, &mut buf, end_point.as_deref(), tls)?;
    let said = (login.params, login.backend_pid, login.channel_bound);
    Ok(Client::started(stream, config, said, buf))
}

/// Turns TCP keepalive on, probing after `idle` without traffic, so that a
/// server that vanished (a cable, a VM) is noticed.
fn set_keepalive(stream: &TcpStream, idle: std::time::Duration) {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    let on: libc::c_int = 1;
    let secs = idle.as_secs().clamp(1, i32::MAX as u64) as libc::c_int;
    let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: setsockopt(2) on a socket this stream owns (open for the
    // call), reading one c_int from a live local of that size.
    let _ = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            (&raw const on).cast(),
            size,
        )
    };
    // SAFETY: as above, TCP_KEEPIDLE with a c_int of seconds.
    let _ = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPIDLE,
            (&raw const secs).cast(),
            size,
        )
    };
}

/// What the login settled.
struct Login {
    /// Server parameters reported at login (`server_version`, ...).
    params: HashMap<String, String>,
    /// The serving backend's process id (for cancel requests and traces).
    backend_pid: i32,
    /// Whether the login was bound to the TLS channel (SCRAM-SHA-256-PLUS).
    channel_bound: bool,
}

/// The startup exchange: the startup message, authentication, then the
/// server's parameters up to the first `ReadyForQuery`. `end_point` is
/// the TLS channel's binding data (`tls` says whether the stream is TLS).
fn startup(
    stream: &Stream,
    config: &Config,
    buf: &mut BytesMut,
    end_point: Option<&[u8]>,
    tls: bool,
) -> Result<Login, Error> {
    let mut out = BytesMut::new();
    let options = config.options_param();
    let mut params: Vec<(&str, &str)> = vec![
        ("user", &config.user),
        ("database", config.get_dbname()),
        ("client_encoding", "UTF8"),
    ];
    if let Some(options) = &options {
        params.push(("options", options));
    }
    if let Some(name) = &config.application_name {
        params.push(("application_name", name));
    }
    frontend::startup_message(params.iter().copied(), &mut out)?;
    stream.write_all(&out)?;
    let require_binding = config.channel_binding == ChannelBinding::Require;
    // Under `channel_binding=require` no password leaves for a server that
    // has not offered to prove it sits at the other end of this TLS channel.
    let unbound = |how: &str| {
        Error::Tls(format!(
            "channel_binding=require, and the server asked for {how} (no channel binding{})",
            if tls {
                ""
            } else {
                "; the connection is not TLS"
            }
        ))
    };
    let password = || {
        config.password.as_deref().ok_or_else(|| {
            Error::Config("the server asks for a password and none was given".into())
        })
    };
    let mut scratch = [0u8; 1024];
    let mut scram: Option<sasl::ScramSha256> = None;
    // Whether the SCRAM exchange ended with the server's proof checked.
    let mut scram_done = false;
    let mut channel_bound = false;
    let mut server_params = HashMap::new();
    let mut backend_pid = 0;
    loop {
        out.clear();
        match next_message(stream, buf, &mut scratch)? {
            Message::AuthenticationOk => {
                if scram.is_some() && !scram_done {
                    return Err(Error::protocol(
                        "the server ended SCRAM without proving it knows the password",
                    ));
                }
                if require_binding && !channel_bound {
                    return Err(unbound("no authentication, or one without SCRAM"));
                }
            }
            Message::AuthenticationCleartextPassword => {
                if require_binding {
                    return Err(unbound("a cleartext password"));
                }
                frontend::password_message(password()?.as_bytes(), &mut out)?;
            }
            Message::AuthenticationMd5Password(body) => {
                if require_binding {
                    return Err(unbound("an md5 password"));
                }
                let hash = md5_hash(config.user.as_bytes(), password()?.as_bytes(), body.salt());
                frontend::password_message(hash.as_bytes(), &mut out)?;
            }
            Message::AuthenticationSasl(body) => {
                let mut mechanisms = body.mechanisms();
                let (mut plain, mut plus) = (false, false);
                while let Some(m) = mechanisms.next()? {
                    plain |= m == sasl::SCRAM_SHA_256;
                    plus |= m == sasl::SCRAM_SHA_256_PLUS;
                }
                let bind = config.channel_binding != ChannelBinding::Disable;
                let (mechanism, binding) = match end_point {
                    Some(hash) if bind && plus => (
                        sasl::SCRAM_SHA_256_PLUS,
                        sasl::ChannelBinding::tls_server_end_point(hash.to_vec()),
                    ),
                    _ if require_binding => {
                        return Err(unbound(if tls {
                            "SCRAM without the -PLUS mechanism"
                        } else {
                            "SCRAM"
                        }));
                    }
                    // "y": this client could bind, and the server did not
                    // offer to (a downgrade the server can then detect).
                    // (Never when it offers -PLUS: it would take "y" for a
                    // downgrade. Without binding data, "n".)
                    _ if plain && tls && bind && !plus => {
                        (sasl::SCRAM_SHA_256, sasl::ChannelBinding::unrequested())
                    }
                    _ if plain => (sasl::SCRAM_SHA_256, sasl::ChannelBinding::unsupported()),
                    _ => {
                        return Err(Error::protocol(
                            "the server offers no SASL mechanism this client speaks \
                             (SCRAM-SHA-256, SCRAM-SHA-256-PLUS)",
                        ));
                    }
                };
                channel_bound = mechanism == sasl::SCRAM_SHA_256_PLUS;
                let s = sasl::ScramSha256::new(password()?.as_bytes(), binding);
                frontend::sasl_initial_response(mechanism, s.message(), &mut out)?;
                scram = Some(s);
            }
            Message::AuthenticationSaslContinue(body) => {
                let s = scram
                    .as_mut()
                    .ok_or_else(|| Error::protocol("a SASL continuation before SASL began"))?;
                check_iterations(body.data())?;
                s.update(body.data())
                    .map_err(|e| Error::protocol(format!("SCRAM: {e}")))?;
                frontend::sasl_response(s.message(), &mut out)?;
            }
            Message::AuthenticationSaslFinal(body) => {
                let s = scram
                    .as_mut()
                    .ok_or_else(|| Error::protocol("a SASL final message before SASL began"))?;
                s.finish(body.data())
                    .map_err(|e| Error::protocol(format!("SCRAM: the server's proof: {e}")))?;
                scram_done = true;
            }
            Message::AuthenticationKerberosV5
            | Message::AuthenticationScmCredential
            | Message::AuthenticationGss
            | Message::AuthenticationSspi
            | Message::AuthenticationGssContinue(_) => {
                return Err(Error::protocol(
                    "the server asks for an authentication this client does not speak \
                     (trust, password, md5 and scram-sha-256 are spoken)",
                ));
            }
            Message::BackendKeyData(body) => backend_pid = body.process_id(),
            Message::ParameterStatus(body) => {
                server_params.insert(body.name()?.to_string(), body.value()?.to_string());
            }
            Message::NoticeResponse(_) => {}
            Message::ErrorResponse(body) => return Err(DbError::parse(body.fields())?.into()),
            Message::ReadyForQuery(_) => {
                return Ok(Login {
                    params: server_params,
                    backend_pid,
                    channel_bound,
                });
            }
            _ => return Err(Error::protocol("an unexpected message during startup")),
        }
        if !out.is_empty() {
            stream.write_all(&out)?;
        }
    }
}

/// Refuses a SCRAM server-first message (`r=..,s=..,i=N`) asking for more
/// than [`MAX_SCRAM_ITERATIONS`].
fn check_iterations(server_first: &[u8]) -> Result<(), Error> {
    let text = std::str::from_utf8(server_first)
        .map_err(|_| Error::protocol("SCRAM: a server-first message that is not UTF-8"))?;
    let iterations = text
        .split(',')
        .find_map(|part| part.strip_prefix("i="))
        .and_then(|i| i.parse::<u32>().ok())
        .ok_or_else(|| Error::protocol("SCRAM: no iteration count"))?;
    if iterations > MAX_SCRAM_ITERATIONS {
        return Err(Error::protocol(format!(
            "SCRAM: the server asks for {iterations} iterations (at most {MAX_SCRAM_ITERATIONS} are done)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scram_iterations_are_capped() {
        assert!(check_iterations(b"r=abc,s=c2FsdA==,i=4096").is_ok());
        assert!(check_iterations(b"r=abc,s=c2FsdA==,i=100000").is_ok());
        let e = check_iterations(b"r=abc,s=c2FsdA==,i=100001").unwrap_err();
        assert!(e.to_string().contains("100001 iterations"), "{e}");
        assert!(check_iterations(b"r=abc,s=c2FsdA==").is_err());
    }
}
