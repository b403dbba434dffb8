//! What the clones of a [`Client`](super::Client) share: the settings,
//! the pool and the TLS configuration. Requests, responses and their
//! bodies hold this (a body gives its connection back to the pool), not
//! the client, so that they sit below it.

#[cfg(feature = "tls")]
use std::sync::Arc;

use super::config::ClientConfig;
use super::pool::{self, Pool};

/// The settings, the pool and the TLS configuration of a client.
pub(super) struct Shared {
    /// The settings every request starts from.
    pub(super) config: ClientConfig,
    /// The keep-alive connections, per (scheme, host, port).
    pub(super) pool: Pool,
    /// The TLS configuration, made at the first `https` request.
    #[cfg(feature = "tls")]
    pub(super) tls: std::cell::OnceCell<Arc<crate::tls::ClientConfig>>,
}

impl Shared {
    /// The shared part of a client with `config`.
    pub(super) fn new(config: ClientConfig) -> Shared {
        let pool = Pool::new(pool::Limits {
            per_host: config.per_host,
            total: config.total,
            idle_timeout: config.idle_timeout,
        });
        Shared {
            config,
            pool,
            #[cfg(feature = "tls")]
            tls: std::cell::OnceCell::new(),
        }
    }

    /// The TLS configuration of its `https` connections (ALPN `http/1.1`
    /// unless the configured one says otherwise).
    #[cfg(feature = "tls")]
    pub(super) fn tls_config(&self) -> Arc<crate::tls::ClientConfig> {
        self.tls
            .get_or_init(|| {
                let mut config = match &self.config.tls {
                    Some(c) => (**c).clone(),
                    None => (*crate::tls::client_config()).clone(),
                };
                if config.alpn_protocols.is_empty() {
                    config.alpn_protocols = vec![b"http/1.1".to_vec()];
                }
                Arc::new(config)
            })
            .clone()
    }
}
