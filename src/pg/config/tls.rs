//! The TLS settings of a [`Config`](super::Config): libpq's `sslmode`, `sslrootcert`,
//! `sslsni` and `channel_binding`, with their meanings and defaults.

use std::path::PathBuf;

/// Whether and how the connection is encrypted: libpq's `sslmode`, with
/// its meanings. Only `VerifyFull` stops a man in the middle; `Require`
/// stops someone who only listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// Plain first; TLS if the server refuses the plain login.
    Allow,
    /// TLS if the server speaks it, else plain; the certificate is not
    /// checked (the default, as libpq's).
    #[default]
    Prefer,
    /// TLS or no connection; the certificate is not checked unless an
    /// `sslrootcert` file is given (then as `VerifyCa`).
    Require,
    /// TLS, with a certificate chain that ends at a trusted root.
    VerifyCa,
    /// TLS, with a trusted chain and a certificate for the host's name.
    VerifyFull,
}

impl SslMode {
    pub(crate) fn parse(v: &str) -> Option<SslMode> {
        Some(match v {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    /// Its name in a URL (`verify-full`).
    ///
    /// ```
    /// use yieldfrom::pg::SslMode;
    /// assert_eq!(SslMode::VerifyFull.as_str(), "verify-full");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The roots a server's certificate is checked against (`sslrootcert`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCert {
    /// The CA certificates in a PEM file.
    File(PathBuf),
    /// The operating system's trusted roots (`sslrootcert=system`, for
    /// managed services whose certificates a public CA signs); libpq
    /// allows it only with `verify-full`, and so does this client.
    System,
}

/// SCRAM channel binding (`channel_binding`): whether the login is tied to
/// the TLS connection (SCRAM-SHA-256-PLUS with `tls-server-end-point`), so
/// that a man in the middle who terminates TLS cannot relay the password
/// proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ChannelBinding {
    /// Never.
    Disable,
    /// When the connection is TLS and the server offers it (the default).
    #[default]
    Prefer,
    /// Always: the connection fails unless the server logs the client in
    /// with SCRAM-SHA-256-PLUS over TLS.
    Require,
}
