//! The stream's own checks, without a peer.

use super::*;

#[test]
fn the_channel_binding_hash_follows_the_certificates_signature() {
    for (alg, len) in [
        (&rcgen::PKCS_ECDSA_P256_SHA256, 32),
        (&rcgen::PKCS_ECDSA_P384_SHA384, 48),
    ] {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let digest = end_point_digest(&der).expect("an ECDSA certificate has one");
        assert_eq!(digest.output_len(), len);
        // Cut short anywhere, it is refused, never read past its end.
        for cut in [0, 1, 2, 10, der.len() / 2, der.len() - 1] {
            let _ = end_point_digest(&der[..cut]);
        }
        assert!(end_point_digest(&der[..der.len() / 2]).is_none());
    }
    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    let der = params.self_signed(&ed).unwrap().der().to_vec();
    assert!(
        end_point_digest(&der).is_none(),
        "Ed25519 has no RFC 5929 hash"
    );
}
