//! `yieldfrom::pg` over TLS, against real clusters started here with
//! `ssl = on` and certificates made at run time (tests/common/pki.rs):
//! every `sslmode` against a TLS server and a plain one, the certificate
//! checks and what their errors say, SCRAM channel binding required and
//! refused, and a server that sends bytes before the handshake. Without
//! PostgreSQL installed the tests say so and pass, except under `CI=true`,
//! where they fail.

mod common;

use std::io::{Read, Write};

use common::pki::Pki;
use yieldfrom::pg::{
    ChannelBinding, Client, Config, Error, Pool, PoolOptions, SslMode, TempCluster,
};
use yieldfrom::{Coro, run};

/// The password of `app`, the SCRAM user of every TLS cluster here.
const APP_PASSWORD: &str = "app's secret";

/// A cluster with TLS (a certificate for `names` signed by `pki`'s CA)
/// whose TCP lines are all `hostssl`: `app` logs in with SCRAM, `md5user`
/// with md5, the superuser by trust. `None` when PostgreSQL is missing
/// (and this is not CI).
fn tls_cluster(pki: &Pki, names: &[&str]) -> Option<TempCluster> {
    if !common::installed("postgresql", TempCluster::available()) {
        return None;
    }
    let leaf = pki.leaf("postgres", names, false);
    let cert = std::fs::read_to_string(&leaf.cert).unwrap();
    let key = std::fs::read_to_string(&leaf.key).unwrap();
    let cluster = TempCluster::builder()
        .tls(&cert, &key)
        .hba("hostssl all app 127.0.0.1/32 scram-sha-256")
        .hba("hostssl all app ::1/128 scram-sha-256")
        .hba("hostssl all md5user 127.0.0.1/32 md5")
        .tls_only()
        .start()
        .expect("a throwaway PostgreSQL cluster with TLS starts");
    let admin = cluster.config();
    run(Coro::new("roles", move || {
        let c = Client::connect(&admin).unwrap();
        c.batch_execute(&format!(
            "SET password_encryption = 'scram-sha-256';
             CREATE ROLE app LOGIN PASSWORD '{}';
             SET password_encryption = 'md5';
             CREATE ROLE md5user LOGIN PASSWORD 'md5 pass';",
            APP_PASSWORD.replace('\'', "''")
        ))
        .unwrap();
    }));
    Some(cluster)
}

/// `app` over TCP to `host`, with `mode`.
fn app(cluster: &TempCluster, host: &str, mode: SslMode) -> Config {
    cluster
        .tcp_config()
        .host(host)
        .user("app")
        .password(APP_PASSWORD)
        .ssl_mode(mode)
}

/// Whether the server sees this connection as TLS (`pg_stat_ssl`).
fn server_sees_tls(c: &Client) -> bool {
    c.query_one(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        &[],
    )
    .unwrap()
    .get(0)
}

const MODES: [SslMode; 6] = [
    SslMode::Disable,
    SslMode::Allow,
    SslMode::Prefer,
    SslMode::Require,
    SslMode::VerifyCa,
    SslMode::VerifyFull,
];

#[test]
fn every_sslmode_against_a_tls_only_server_and_a_plain_one() {
    let pki = Pki::new();
    let Some(tls) = tls_cluster(&pki, &["localhost", "127.0.0.1"]) else {
        return;
    };
    let plain = TempCluster::start().unwrap();
    let ca = yieldfrom::pg::RootCert::File(pki.ca());
    let (tls_superuser, plain_superuser) = (tls.tcp_config(), plain.tcp_config());
    run(Coro::new("main", move || {
        for mode in MODES {
            // The TLS-only server: every mode but `disable` ends encrypted;
            // `allow` gets there after its plain login is refused.
            let config = tls_superuser
                .clone()
                .ssl_mode(mode)
                .ssl_root_cert(ca.clone());
            match Client::connect(&config) {
                Ok(c) => {
                    assert_ne!(mode, SslMode::Disable);
                    assert!(c.is_tls(), "{mode:?}");
                    assert!(server_sees_tls(&c), "{mode:?}");
                    assert!(c.tls_version().is_some());
                }
                Err(e) => {
                    assert_eq!(mode, SslMode::Disable, "{e}");
                    // pg_hba: no entry for a connection without encryption.
                    assert_eq!(e.code(), Some("28000"), "{e}");
                    assert!(e.to_string().contains("no encryption"), "{e}");
                }
            }
            // The plain server: disable/allow/prefer connect in the clear,
            // the rest refuse, saying the server does not do TLS.
            let config = plain_superuser
                .clone()
                .ssl_mode(mode)
                .ssl_root_cert(ca.clone());
            match Client::connect(&config) {
                Ok(c) => {
                    assert!(
                        matches!(mode, SslMode::Disable | SslMode::Allow | SslMode::Prefer),
                        "{mode:?} connected to a server without TLS"
                    );
                    assert!(!c.is_tls() && !server_sees_tls(&c), "{mode:?}");
                }
                Err(Error::Tls(why)) => {
                    assert!(
                        matches!(
                            mode,
                            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
                        ),
                        "{mode:?}: {why}"
                    );
                    assert!(why.contains("does not accept TLS"), "{why}");
                    assert!(why.contains(mode.as_str()), "{why}");
                }
                Err(e) => panic!("{mode:?}: {e}"),
            }
        }
        // The URL says the same as the builder.
        let url: Config = format!(
            "postgres://{}@127.0.0.1:{}/postgres?sslmode=require",
            yieldfrom::pg::SUPERUSER,
            tls_superuser.get_port()
        )
        .parse()
        .unwrap();
        assert!(Client::connect(&url).unwrap().is_tls());
    }));
}

#[test]
fn certificate_checks_say_which_failed() {
    let pki = Pki::new();
    // A certificate for `localhost` only: 127.0.0.1 is not its name.
    let Some(cluster) = tls_cluster(&pki, &["localhost"]) else {
        return;
    };
    let stranger = Pki::new(); // a CA that signed nothing of this server's
    let ca = yieldfrom::pg::RootCert::File(pki.ca());
    let wrong_ca = yieldfrom::pg::RootCert::File(stranger.ca());
    let (ip_config, name_config) = (
        app(&cluster, "127.0.0.1", SslMode::Prefer),
        app(&cluster, "localhost", SslMode::Prefer),
    );
    let by_ip = move |mode| ip_config.clone().ssl_mode(mode);
    let by_name = move |mode| name_config.clone().ssl_mode(mode);
    let cases: Vec<(&str, Config, Option<&str>)> = vec![
        (
            "verify-full, the right CA and name",
            by_name(SslMode::VerifyFull).ssl_root_cert(ca.clone()),
            None,
        ),
        (
            "verify-full, a wrong name",
            by_ip(SslMode::VerifyFull).ssl_root_cert(ca.clone()),
            Some("not valid for name"),
        ),
        (
            "verify-ca, a wrong name",
            by_ip(SslMode::VerifyCa).ssl_root_cert(ca.clone()),
            None,
        ),
        (
            "verify-full, an unknown CA",
            by_name(SslMode::VerifyFull).ssl_root_cert(wrong_ca.clone()),
            Some("UnknownIssuer"),
        ),
        (
            "verify-ca, an unknown CA",
            by_ip(SslMode::VerifyCa).ssl_root_cert(wrong_ca.clone()),
            Some("UnknownIssuer"),
        ),
        // libpq: a root file makes `require` check the chain.
        (
            "require with a root file, an unknown CA",
            by_ip(SslMode::Require).ssl_root_cert(wrong_ca.clone()),
            Some("UnknownIssuer"),
        ),
        ("require, no root file", by_ip(SslMode::Require), None),
    ];
    run(Coro::new("main", move || {
        for (what, config, failure) in cases {
            match (Client::connect(&config), failure) {
                (Ok(c), None) => assert!(c.is_tls() && c.is_channel_bound(), "{what}"),
                (Err(Error::Tls(why)), Some(check)) => {
                    assert!(why.contains(check), "{what}: {why}");
                    assert!(why.contains("certificate"), "{what}: {why}");
                }
                (Ok(_), Some(check)) => panic!("{what}: connected, {check} expected"),
                (Err(e), _) => panic!("{what}: {e}"),
            }
        }
        // The system's roots are read (the machine's store has certificates,
        // none of them this throwaway CA).
        let system = by_name(SslMode::VerifyFull).ssl_root_cert(yieldfrom::pg::RootCert::System);
        let e = Client::connect(&system).unwrap_err();
        assert!(
            matches!(&e, Error::Tls(w) if w.contains("UnknownIssuer")),
            "{e}"
        );
        // Settings that cannot work, refused before any connection.
        let e = Client::connect(&by_ip(SslMode::VerifyCa)).unwrap_err();
        assert!(
            matches!(&e, Error::Config(w) if w.contains("sslrootcert"))
                || std::env::var_os("HOME").is_some_and(|h| std::path::Path::new(&h)
                    .join(".postgresql/root.crt")
                    .is_file()),
            "{e}"
        );
        let system = "postgres://app@127.0.0.1/postgres?sslmode=require&sslrootcert=system"
            .parse::<Config>()
            .unwrap();
        let e = Client::connect(&system).unwrap_err();
        assert!(
            matches!(&e, Error::Config(w) if w.contains("verify-full")),
            "{e}"
        );
        // A missing root file names itself.
        let missing = by_ip(SslMode::VerifyCa)
            .ssl_root_cert(yieldfrom::pg::RootCert::File("/nonexistent/ca.pem".into()));
        let e = Client::connect(&missing).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }));
}

#[test]
fn channel_binding_is_used_when_it_can_be_and_required_means_required() {
    let pki = Pki::new();
    let Some(tls) = tls_cluster(&pki, &["localhost", "127.0.0.1"]) else {
        return;
    };
    let plain = TempCluster::start_with_hba(&["host all app 127.0.0.1/32 scram-sha-256"]).unwrap();
    let plain_admin = plain.config();
    run(Coro::new("role", move || {
        Client::connect(&plain_admin)
            .unwrap()
            .batch_execute(&format!(
                "CREATE ROLE app LOGIN PASSWORD '{}'",
                APP_PASSWORD.replace('\'', "''")
            ))
            .unwrap();
    }));
    let (tls_app, plain_app) = (
        app(&tls, "127.0.0.1", SslMode::Require),
        plain
            .tcp_config()
            .user("app")
            .password(APP_PASSWORD)
            .ssl_mode(SslMode::Prefer),
    );
    let tls_superuser = tls.tcp_config().ssl_mode(SslMode::Require);
    let md5user = tls
        .tcp_config()
        .user("md5user")
        .password("md5 pass")
        .ssl_mode(SslMode::Require);
    run(Coro::new("main", move || {
        // SCRAM-SHA-256-PLUS by default over TLS: had the binding data been
        // wrong, the server would have refused the proof.
        for binding in [ChannelBinding::Prefer, ChannelBinding::Require] {
            let c = Client::connect(&tls_app.clone().channel_binding(binding)).unwrap();
            assert!(c.is_channel_bound(), "{binding:?}");
            assert_eq!(c.query_one("SELECT 1", &[]).unwrap().get::<i32>(0), 1);
        }
        let c = Client::connect(&tls_app.clone().channel_binding(ChannelBinding::Disable)).unwrap();
        assert!(c.is_tls() && !c.is_channel_bound());
        // A wrong password with the binding: the server's own refusal.
        let e = Client::connect(&tls_app.clone().password("wrong")).unwrap_err();
        assert_eq!(e.code(), Some("28P01"), "{e}");

        // Required and refused: a login without SCRAM (trust, md5), and
        // SCRAM without TLS. No password is sent for md5.
        let require = ChannelBinding::Require;
        for (what, config, says) in [
            ("trust", tls_superuser.clone(), "without SCRAM"),
            ("md5", md5user.clone(), "md5"),
            ("plain", plain_app.clone(), "not TLS"),
        ] {
            let e = Client::connect(&config.clone().channel_binding(require)).unwrap_err();
            assert!(
                matches!(&e, Error::Tls(w) if w.contains(says)),
                "{what}: {e}"
            );
            // Without the requirement each logs in.
            Client::connect(&config).unwrap_or_else(|e| panic!("{what}: {e}"));
        }
        let e = Client::connect(
            &plain_app
                .clone()
                .ssl_mode(SslMode::Disable)
                .channel_binding(require),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Config(_)), "{e}");
    }));
}

#[test]
fn a_pool_over_tls_shares_one_configuration_and_serves_many_tasks() {
    let pki = Pki::new();
    let Some(cluster) = tls_cluster(&pki, &["localhost", "127.0.0.1"]) else {
        return;
    };
    let config = app(&cluster, "localhost", SslMode::VerifyFull)
        .ssl_root_cert(yieldfrom::pg::RootCert::File(pki.ca()))
        .channel_binding(ChannelBinding::Require);
    run(Coro::new("main", move || {
        let pool = Pool::with_options(
            config,
            PoolOptions {
                size: 4,
                pipeline: 1,
                ..PoolOptions::default()
            },
        );
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let pool = pool.clone();
                yieldfrom::spawn(Coro::new("q", move || {
                    let c = pool.get().unwrap();
                    let row = c
                        .query_one(
                            "SELECT $1::int * 2, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                            &[&i],
                        )
                        .unwrap();
                    (row.get::<i32>(0), row.get::<bool>(1))
                }))
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.join(), (2 * i as i32, true));
        }
    }));
}

/// A fake server on loopback that answers the client's first message (the
/// 8-byte SSLRequest) with `answer`, then holds the socket until the
/// client goes.
fn fake_server(answer: &'static [u8]) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut request = [0u8; 8];
        s.read_exact(&mut request).unwrap();
        // The SSLRequest code, 80877103.
        assert_eq!(&request[4..], &[0x04, 0xd2, 0x16, 0x2f]);
        s.write_all(answer).unwrap();
        let _ = s.read(&mut [0u8; 1024]);
    });
    port
}

#[test]
fn answers_to_the_tls_request_are_checked_before_anything_is_trusted() {
    let injected = fake_server(b"Sinjected, unencrypted");
    let refused = fake_server(b"N");
    // An ErrorResponse before negotiation: FATAL 53300, too many clients.
    let error = fake_server(b"E\0\0\0\x2cSFATAL\0VFATAL\0C53300\0Mtoo many clients\0\0");
    let nonsense = fake_server(b"X");
    let at = |port: u16, mode| Config::new().host("127.0.0.1").port(port).ssl_mode(mode);
    run(Coro::new("main", move || {
        let e = Client::connect(&at(injected, SslMode::Require)).unwrap_err();
        assert!(
            matches!(&e, Error::Protocol(w) if w.contains("21 more unencrypted byte")),
            "{e}"
        );
        let e = Client::connect(&at(refused, SslMode::Require)).unwrap_err();
        assert!(
            matches!(&e, Error::Tls(w) if w.contains("does not accept TLS")),
            "{e}"
        );
        let e = Client::connect(&at(error, SslMode::Require)).unwrap_err();
        assert_eq!(e.code(), Some("53300"), "{e}");
        let e = Client::connect(&at(nonsense, SslMode::Require)).unwrap_err();
        assert!(matches!(&e, Error::Protocol(w) if w.contains("'X'")), "{e}");
    }));
}
