//! `yieldfrom::tls` over loopback, both sides as tasks of one loop, with
//! certificates made here at run time (tests/common/pki.rs): a throwaway
//! CA, a server certificate for `localhost` and 127.0.0.1, an expired one,
//! one for another name.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::pki::{Leaf, Pki};
use yieldfrom::net::{TcpListener, TcpStream};
use yieldfrom::tls::{self, TlsStream};
use yieldfrom::{Coro, Elapsed, run, spawn, timeout};

/// A server configuration for `leaf` with ALPN http/1.1.
fn server(leaf: &Leaf) -> Arc<tls::ServerConfig> {
    tls::server_config_from_pem(&leaf.cert, &leaf.key, &[b"http/1.1"]).unwrap()
}

/// Accepts one connection on `listener` and runs the TLS handshake: the
/// stream, or why the handshake failed.
fn accept_one(
    listener: TcpListener,
    config: Arc<tls::ServerConfig>,
) -> yieldfrom::Task<std::io::Result<TlsStream>> {
    spawn(Coro::new("tls server", move || {
        let (tcp, _) = listener.accept()?;
        TlsStream::accept(tcp, config)
    }))
}

#[test]
fn an_echo_over_tls_is_verified_encrypted_and_ends_with_close_notify() {
    let pki = Pki::new();
    let leaf = pki.leaf("localhost", &["localhost", "127.0.0.1"], false);
    let (server_cfg, ca) = (server(&leaf), pki.ca());
    run(Coro::new("main", move || {
        for name in ["localhost", "127.0.0.1"] {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn(Coro::new("echo", {
                let cfg = server_cfg.clone();
                move || {
                    let (tcp, _) = listener.accept().unwrap();
                    let tls = TlsStream::accept(tcp, cfg).unwrap();
                    let mut buf = [0u8; 64];
                    let n = tls.read(&mut buf).unwrap();
                    tls.write_all(&[&buf[..n], b" back"].concat()).unwrap();
                    tls.shutdown().unwrap();
                    (
                        tls.server_name(),
                        tls.alpn_protocol(),
                        tls.read(&mut buf).unwrap(),
                    )
                }
            }));
            let mut config = (*tls::client_config_with_ca(&ca).unwrap()).clone();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let tcp = TcpStream::connect(addr).unwrap();
            let client = TlsStream::connect(tcp, name, Arc::new(config)).unwrap();
            assert_eq!(
                client.protocol_version(),
                Some(tls::ProtocolVersion::TLSv1_3)
            );
            assert_eq!(client.alpn_protocol().as_deref(), Some(&b"http/1.1"[..]));
            assert!(client.peer_certificates().is_some_and(|c| c.len() == 1));
            client.write_all(b"hello").unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            loop {
                // Ends at the server's close_notify: Ok(0), not an error.
                match client.read(&mut buf).unwrap() {
                    0 => break,
                    n => got.extend_from_slice(&buf[..n]),
                }
            }
            assert_eq!(got, b"hello back");
            client.shutdown().unwrap();
            let (sni, alpn, end) = yieldfrom::yield_from(server);
            // SNI carries DNS names only, never IP addresses (RFC 6066).
            let want_sni = (name == "localhost").then(|| name.to_string());
            assert_eq!(sni, want_sni);
            assert_eq!(alpn.as_deref(), Some(&b"http/1.1"[..]));
            assert_eq!(end, 0, "the client's close_notify ends the server's reads");
        }
    }));
}

/// Each failed check is refused by the client, and the error says which.
#[test]
fn expired_misnamed_and_unknown_certificates_are_refused_saying_why() {
    let pki = Pki::new();
    let expired = pki.leaf("expired", &["localhost"], true);
    let other = pki.leaf("other", &["other.example"], false);
    let good = pki.leaf("good", &["localhost"], false);
    let ca = pki.ca();
    let cases = [
        (
            server(&expired),
            tls::client_config_with_ca(&ca).unwrap(),
            "certificate expired",
        ),
        (
            server(&other),
            tls::client_config_with_ca(&ca).unwrap(),
            "certificate not valid for name \"localhost\"",
        ),
        // The Mozilla roots do not know our CA.
        (server(&good), tls::client_config(), "UnknownIssuer"),
    ];
    run(Coro::new("main", move || {
        for (server_cfg, client_cfg, why) in cases {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = accept_one(listener, server_cfg);
            let tcp = TcpStream::connect(addr).unwrap();
            let e = TlsStream::connect(tcp, "localhost", client_cfg).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
            assert!(e.to_string().contains(why), "{why}: {e}");
            // The server learns of it by the client's alert.
            let server_side = server.join().unwrap_err();
            assert!(
                server_side.to_string().starts_with("TLS: "),
                "{server_side}"
            );
        }
    }));
}

/// Bytes that are not a ClientHello end the handshake with an error (and
/// no panic); a client that stalls mid-handshake is cut off by a timeout,
/// as slowloris is.
#[test]
fn garbage_and_a_stalled_handshake_end_without_harm() {
    let pki = Pki::new();
    let leaf = pki.leaf("localhost", &["localhost"], false);
    let server_cfg = server(&leaf);
    run(Coro::new("main", move || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = accept_one(listener, server_cfg.clone());
        let plain = TcpStream::connect(addr).unwrap();
        plain
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let e = server.join().unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}");
        // The client gets an alert (or the end), never a hang.
        let mut buf = [0u8; 64];
        let n = timeout(Duration::from_secs(10), || plain.read(&mut buf))
            .expect("the server answered the garbage")
            .unwrap_or(0);
        if n > 0 {
            assert_eq!(buf[0], 0x15, "a TLS alert record");
        }

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(Coro::new("tls server", move || {
            let (tcp, _) = listener.accept().unwrap();
            timeout(Duration::from_millis(200), || {
                TlsStream::accept(tcp, server_cfg)
            })
            .map(|r| r.map(|_| ()))
        }));
        let _silent = TcpStream::connect(addr).unwrap(); // connects, says nothing
        assert!(matches!(server.join(), Err(Elapsed)));
    }));
}

#[test]
fn the_timeline_shows_the_handshake_as_waits_on_the_socket() {
    use yieldfrom::suspend::{IoPurpose, Suspend};
    use yieldfrom::trace::{EventKind, Recorder, StepEnd};
    let pki = Pki::new();
    let leaf = pki.leaf("localhost", &["localhost"], false);
    let (server_cfg, ca) = (server(&leaf), pki.ca());
    let rec = Recorder::new();
    yieldfrom::EventLoop::builder()
        .instrument(rec.clone())
        .build()
        .run(Coro::new("client", move || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = spawn(Coro::new("server", move || {
                let (tcp, _) = listener.accept().unwrap();
                let stream = TlsStream::accept(tcp, server_cfg).unwrap();
                let mut buf = [0u8; 5];
                stream.read(&mut buf).unwrap()
            }));
            let tcp = TcpStream::connect(addr).unwrap();
            let client = tls::client_config_with_ca(&ca).unwrap();
            let stream = TlsStream::connect(tcp, "localhost", client).unwrap();
            // The server waits for these bytes after its handshake.
            yieldfrom::sleep(Duration::from_millis(20));
            stream.write_all(b"after").unwrap();
            assert_eq!(server.join(), 5);
        }));
    // Both sides paused on their socket during the handshake, labelled so;
    // the client's connect was labelled too.
    let paused: Vec<Suspend> = rec
        .events()
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::End(StepEnd::Suspended(s @ Suspend::Io { .. })) => Some(s),
            _ => None,
        })
        .collect();
    let handshake = paused
        .iter()
        .filter(|s| {
            matches!(
                s,
                Suspend::Io {
                    purpose: IoPurpose::TlsHandshake,
                    ..
                }
            )
        })
        .count();
    assert!(handshake >= 2, "{paused:?}");
    assert!(
        paused
            .iter()
            .any(|s| s.to_string().ends_with("readable (TLS handshake)")),
        "{paused:?}"
    );
    // After the handshake the same socket's waits are plain data again.
    assert!(
        paused.iter().any(|s| matches!(
            s,
            Suspend::Io {
                purpose: IoPurpose::Data,
                ..
            }
        )),
        "{paused:?}"
    );
    let log = rec.log();
    assert!(log.contains("became readable (TLS handshake)"), "{log}");
}
