//! The chunked decoder against well-formed, malformed and split input.

use super::*;

const LIMITS: Limits = super::super::framing::TEST_LIMITS;

/// Feeds `wire` in reads of the sizes in `cuts` (cycled), as a
/// connection does: each read's bytes once, the taken ones dropped.
fn feed_in_reads(wire: &[u8], cuts: &[usize]) -> (Result<Option<Vec<u8>>, Reject>, usize) {
    feed_in_reads_with(wire, cuts, &LIMITS)
}

fn feed_in_reads_with(
    wire: &[u8],
    cuts: &[usize],
    limits: &Limits,
) -> (Result<Option<Vec<u8>>, Reject>, usize) {
    let mut decoder = Decoder::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut at = 0;
    let mut looked_at = 0;
    for &cut in cuts.iter().cycle() {
        let end = (at + cut.max(1)).min(wire.len());
        pending.extend_from_slice(&wire[at..end]);
        at = end;
        looked_at += pending.len();
        match decoder.feed(&pending, limits) {
            Ok(n) => drop(pending.drain(..n)),
            Err(r) => return (Err(r), looked_at),
        }
        if decoder.is_done() || at == wire.len() {
            break;
        }
    }
    let done = decoder.is_done();
    (Ok(done.then(|| decoder.into_body())), looked_at)
}

#[test]
fn bodies_decode_with_extensions_and_trailers() {
    let wire = b"4;ext=1\r\nWiki\r\n5 ; a=\"b c\"\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\nNEXT";
    let (body, used) = decode(wire, &LIMITS).unwrap().unwrap();
    assert_eq!(body, b"Wikipedia");
    assert_eq!(&wire[used..], b"NEXT");
    for cut in 0..used {
        assert_eq!(decode(&wire[..cut], &LIMITS), Ok(None), "cut at {cut}");
    }
    for cuts in [&[1][..], &[2, 3], &[7], &[100]] {
        assert_eq!(
            feed_in_reads(&wire[..used], cuts).0,
            Ok(Some(b"Wikipedia".to_vec()))
        );
    }
}

#[test]
fn malformed_chunks_are_refused() {
    for wire in [
        &b"x\r\n"[..],
        b"4\r\nWikiXX0\r\n\r\n",
        b"4\nWiki\r\n0\r\n\r\n",
        b"4\r\nWiki\r\n0\r\nno colon\r\n\r\n",
        b"4\r\nWiki\r\n0\r\n: empty name\r\n\r\n",
        b"4 x\r\nWiki\r\n0\r\n\r\n",
        b"4;a\x01\r\nWiki\r\n0\r\n\r\n",
        b"4\r\nWiki\r\n0\r\n\r\r",
        b"11111111111111111\r\n",
    ] {
        assert_eq!(
            decode(wire, &LIMITS).map_err(|r| r.status),
            Err(400),
            "{:?}",
            String::from_utf8_lossy(wire)
        );
    }
}

/// The decoder's work is linear in the wire: every byte fed in reads
/// of any size is taken once and never handed over again, however
/// small the chunks (the quadratic decoder cost 8.4 s of CPU here).
#[test]
fn a_megabyte_in_one_byte_chunks_is_decoded_looking_at_each_byte_once() {
    let body: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let wire = one_byte_chunks(&body);
    for cuts in [&[4096][..], &[1], &[3, 1000, 7]] {
        let (got, looked_at) = feed_in_reads(&wire, cuts);
        assert_eq!(got.unwrap().as_deref(), Some(&body[..]));
        // Each byte is handed over once, plus at most the unfinished
        // bytes of the read before (none: a byte decoder takes all).
        assert_eq!(looked_at, wire.len(), "cuts {cuts:?}");
    }
    let mut decoder = Decoder::new();
    assert_eq!(decoder.feed(&wire, &LIMITS), Ok(wire.len()));
    assert_eq!(decoder.wire(), wire.len());
}

#[test]
fn the_wire_the_extensions_and_a_line_are_bounded() {
    // A size line longer than MAX_LINE.
    let mut long = b"1;".to_vec();
    long.resize(MAX_LINE + 10, b'a');
    assert_eq!(
        feed_in_reads(&long, &[100]).0.map_err(|r| r.status),
        Err(400)
    );
    // Extensions over the body's budget, each line short.
    let mut many = Vec::new();
    for _ in 0..(MAX_EXTENSIONS / 100 + 2) {
        many.extend_from_slice(b"1;");
        many.extend_from_slice(&[b'e'; 100]);
        many.extend_from_slice(b"\r\nx\r\n");
    }
    let err = feed_in_reads(&many, &[512]).0.unwrap_err();
    assert_eq!((err.status, err.why), (400, "chunk extensions too large"));
    // The wire: 1-byte chunks with zero-padded sizes (21 wire bytes a
    // body byte) run into the wire's bound before the body's.
    let small = Limits {
        max_body: 100_000,
        ..LIMITS
    };
    let mut padded = Vec::new();
    for _ in 0..small.max_body {
        padded.extend_from_slice(b"0000000000000001\r\nx\r\n");
    }
    let (got, _) = feed_in_reads_with(&padded, &[4096], &small);
    let err = got.unwrap_err();
    assert_eq!(
        (err.status, err.why),
        (413, "chunked body framing too large")
    );
    // The body limit, announced before any data is sent.
    let mut d = Decoder::new();
    assert_eq!(d.feed(b"100001\r\n", &LIMITS).unwrap_err().status, 413);
    // Trailers past the head limit.
    let mut t = b"0\r\n".to_vec();
    for i in 0..2000 {
        t.extend_from_slice(format!("X-T{i}: v\r\n").as_bytes());
    }
    let err = feed_in_reads(&t, &[4096]).0.unwrap_err();
    assert_eq!(err.status, 431);
}
