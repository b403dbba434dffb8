//! TLS on the runtime's own sockets: [`TlsStream`], rustls driven sans-IO
//! (Python: `ssl=` on `open_connection` and `start_server`).
//!
//! rustls never touches a socket. It holds the TLS state machine and two
//! buffers, and says what it wants: bytes from the peer
//! (`wants_read`), or bytes to send (`wants_write`). `stream.rs` is the small
//! loop that serves it, on a non-blocking [`TcpStream`](crate::net::TcpStream) (rustls's
//! `tlsclient-mio.rs` is the model):
//!
//! ```text
//!   socket ──read_tls──► rustls ──process_new_packets──► reader() ──► read(buf)
//!   socket ◄─write_tls── rustls ◄──────────────────────── writer() ◄── write(buf)
//! ```
//!
//! Each of those two socket calls may return `WouldBlock`; then the task
//! waits for the socket's readiness as any other read or write does, and
//! the loop runs other tasks. A handshake is only that: a few rounds of
//! "write what rustls has, wait for readable, feed what came". The
//! timeline shows the task paused on the socket's readiness meanwhile.
//!
//! Certificates are checked by rustls's webpki verifier against the roots
//! the [`ClientConfig`] holds: the Mozilla roots of `webpki-roots` by
//! default ([`client_config`]), or a CA of your own from a PEM file
//! ([`client_config_with_ca`]). The crypto is `ring`'s.
//!
//! Methods take `&self`, as [`TcpStream`](crate::net::TcpStream)'s do, so one task can read while
//! another writes; the rustls state is borrowed only between suspensions.

mod config;
mod stream;

pub use rustls::pki_types::ServerName;
pub use rustls::pki_types::{CertificateDer, PrivateKeyDer};
pub use rustls::{ClientConfig, ProtocolVersion, RootCertStore, ServerConfig};

pub(crate) use self::config::{Verify, client_config_verifying, roots_from_pem, system_roots};
pub use self::config::{
    client_config, client_config_system, client_config_with_ca, client_config_with_roots,
    server_config, server_config_from_pem,
};
pub use self::stream::TlsStream;
