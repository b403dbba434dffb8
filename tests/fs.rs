//! `yieldfrom::fs`: the file operations work, and while one waits for the
//! disk (or, here, for a FIFO that blocks) the loop runs the other tasks.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use yieldfrom::{Coro, EventLoop, fs, spawn, yield_from};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("yieldfrom-fs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn run<T: 'static>(f: impl FnOnce() -> T + 'static) -> T {
    EventLoop::builder()
        .ignore_env_instruments()
        .build()
        .run(Coro::new("main", f))
}

#[test]
fn files_and_directories_round_trip() {
    let dir = temp_dir("round-trip");
    let d = dir.clone();
    let (listed, meta_len, text, after_rename) = run(move || {
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("b.txt"), "bee").unwrap();
        fs::write(d.join("a.txt"), b"ay").unwrap();
        let listed: Vec<(String, bool)> = fs::read_dir(&d)
            .unwrap()
            .into_iter()
            .map(|e| (e.file_name.into_string().unwrap(), e.is_dir))
            .collect();
        let meta_len = fs::metadata(d.join("b.txt")).unwrap().len();
        fs::rename(d.join("b.txt"), d.join("c.txt")).unwrap();
        let text = fs::read_to_string(d.join("c.txt")).unwrap();
        fs::remove_file(d.join("a.txt")).unwrap();
        let after: Vec<String> = fs::read_dir(&d)
            .unwrap()
            .into_iter()
            .map(|e| e.file_name.into_string().unwrap())
            .collect();
        (listed, meta_len, text, after)
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        listed,
        [
            ("a.txt".to_string(), false),
            ("b.txt".to_string(), false),
            ("sub".to_string(), true)
        ]
    );
    assert_eq!((meta_len, text.as_str()), (3, "bee"));
    assert_eq!(after_rename, ["c.txt", "sub"]);
}

#[test]
fn errors_are_the_std_errors() {
    let dir = temp_dir("errors");
    let d = dir.clone();
    let (missing, not_utf8) = run(move || {
        let missing = fs::read(d.join("nope")).unwrap_err().kind();
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("bin"), [0xff, 0xfe]).unwrap();
        let not_utf8 = fs::read_to_string(d.join("bin")).unwrap_err().kind();
        (missing, not_utf8)
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(missing, std::io::ErrorKind::NotFound);
    assert_eq!(not_utf8, std::io::ErrorKind::InvalidData);
}

#[test]
fn a_file_reads_writes_and_seeks_in_pieces() {
    let dir = temp_dir("file");
    let d = dir.clone();
    let (first, rest, end) = run(move || {
        fs::create_dir_all(&d).unwrap();
        let path = d.join("f");
        let f = fs::File::create(&path).unwrap();
        f.write_all(b"0123456789").unwrap();
        f.sync_all().unwrap();
        assert_eq!(f.metadata().unwrap().len(), 10);
        let f = fs::File::open(&path).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(f.read(&mut buf).unwrap(), 4);
        f.seek(std::io::SeekFrom::Start(6)).unwrap();
        let rest = f.read_to_end().unwrap();
        let end = f.read(&mut buf).unwrap();
        (buf, rest, end)
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((&first, rest.as_slice(), end), (b"0123", &b"6789"[..], 0));
}

/// Opening a FIFO for reading blocks until a writer opens it. On the loop's
/// thread that would hang the program (the writer is a task of the same
/// loop); on a worker it only suspends the reading task, and the writer runs.
#[test]
fn a_blocking_open_does_not_block_the_loop() {
    let dir = temp_dir("fifo");
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let order = Rc::new(RefCell::new(Vec::new()));
    let (o, f) = (order.clone(), fifo.clone());
    let got = run(move || {
        let o2 = o.clone();
        let f2 = f.clone();
        let writer = spawn(Coro::new("writer", move || {
            o2.borrow_mut().push("writer runs while the reader waits");
            let w = fs::File::open_with(&f2, {
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true);
                opts
            })
            .unwrap();
            w.write_all(b"through the pipe").unwrap();
        }));
        let text = fs::read_to_string(&f).unwrap();
        o.borrow_mut().push("reader resumed");
        yield_from(writer);
        text
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(got, "through the pipe");
    assert_eq!(
        *order.borrow(),
        ["writer runs while the reader waits", "reader resumed"]
    );
}
