//! The timeline picture (`YIELDFROM_TRACE=svg`, `Recorder::svg`) opens in a
//! browser and shows what happened: rendered by headless Chromium, the
//! screenshot has the colours of running and sleeping tasks where the rows
//! are, and the SVG itself names every task and the arrows between them.

mod common;

use std::time::Duration;
use yieldfrom::trace::Recorder;
use yieldfrom::{Coro, EventLoop, sleep, spawn, yield_from};

/// Example 04's program: A sleeps 2 s, B 1 s, main awaits both.
fn recorded() -> Recorder {
    let rec = Recorder::new();
    EventLoop::builder()
        .virtual_clock(true)
        .instrument(rec.clone())
        .ignore_env_instruments()
        .build()
        .run(Coro::new("main", || {
            let a = spawn(Coro::new("A", || sleep(Duration::from_secs(2))));
            let b = spawn(Coro::new("B", || sleep(Duration::from_secs(1))));
            yield_from(a);
            yield_from(b);
        }));
    rec
}

#[test]
fn the_svg_names_every_task_and_every_wake_arrow() {
    let svg = recorded().svg();
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    for name in ["main", "A", "B"] {
        assert!(svg.contains(&format!(">{name}</text>")), "{svg}");
    }
    // A finishing wakes main (at 2 s); B was done by then, so awaiting it
    // needed no wake-up: one arrow, from A's row into main's.
    assert_eq!(
        svg.matches("marker-end=\"url(#wake)\"><title>").count(),
        1,
        "{svg}"
    );
    assert!(svg.contains("<title>A woke main</title>"), "{svg}");
    // A's sleep is one segment from 0 to 2 s, with its reason.
    assert!(
        svg.contains("A: paused on sleep (0.000 s → 2.000 s)"),
        "{svg}"
    );
    // Nothing is fetched from anywhere.
    assert!(
        !svg.contains("href=\"http") && !svg.contains("<script"),
        "{svg}"
    );
}

#[test]
fn the_picture_renders_in_a_browser() {
    let found = common::chromium();
    if !common::installed("chromium", found.is_some()) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("yieldfrom-picture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (svg, png) = (dir.join("timeline.svg"), dir.join("shot.png"));
    std::fs::write(&svg, recorded().svg()).unwrap();
    let out = std::process::Command::new(found.unwrap())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=980,200",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .output()
        .unwrap();
    assert!(png.exists(), "no screenshot: {out:?}");
    let decoder = png::Decoder::new(std::fs::File::open(&png).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let channels = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    let count = |rgb: [u8; 3]| {
        pixels
            .chunks(channels)
            .filter(|p| p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 8))
            .count()
    };
    let white = count([255, 255, 255]);
    let total = pixels.len() / channels;
    assert!(white < total, "the screenshot is blank");
    // Sleeping (#7aa6dc) covers A's and B's bars: hundreds of pixels at least.
    assert!(count([0x7a, 0xa6, 0xdc]) > 5_000, "no sleeping bars drawn");
    // Running (#2f8f46): each step is a thin bar, but there are six.
    assert!(count([0x2f, 0x8f, 0x46]) > 50, "no running steps drawn");
}
