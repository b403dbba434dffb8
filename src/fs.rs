//! Files without blocking the loop (Python: `aiofiles`, `loop.run_in_executor`
//! with `open`; Rust: `tokio::fs`).
//!
//! **What "async files" means on Linux.** A socket can say "not ready yet",
//! so the loop waits for its readiness (epoll) and runs other tasks
//! meanwhile. A regular file cannot: epoll refuses regular files, and a
//! `read(2)` on one is always "ready" — it blocks the thread for as long as
//! the disk takes (a page-cache hit takes microseconds, a cold read from a
//! spinning disk or a network file system milliseconds to seconds). So,
//! like `tokio::fs` and `aiofiles`, every function here runs the `std::fs`
//! call on the loop's worker threads ([`to_thread`]) and suspends only the
//! calling task; the loop serves the others meanwhile. (The kernel's
//! `io_uring` does offer truly asynchronous file I/O; this runtime does not
//! use it.)
//!
//! What it costs: a hand-off to a worker thread and back per call, a few
//! microseconds — far more than a cached `read` itself. Read and write in
//! large pieces (the whole file with [`read`](fn@read) and [`write`](fn@write), or a
//! `BufReader`'s worth with [`File::read`]), not a byte at a time.
//!
//! ```
//! use yieldfrom::{run, Coro, fs};
//! let dir = std::env::temp_dir().join(format!("yieldfrom-fs-doc-{}", std::process::id()));
//! let text = run(Coro::new("main", move || {
//!     fs::create_dir_all(&dir).unwrap();
//!     let path = dir.join("hello.txt");
//!     fs::write(&path, "hello, files").unwrap();
//!     let text = fs::read_to_string(&path).unwrap();
//!     fs::remove_dir_all(&dir).unwrap();
//!     text
//! }));
//! assert_eq!(text, "hello, files");
//! ```
//!
//! Cancelling a task while its file operation runs raises `Cancelled` in
//! the task at once; the operation itself runs to its end on the worker (a
//! thread cannot be interrupted), and its result is dropped.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::threads::to_thread;

/// Runs `f(path)` on a worker thread.
fn on_thread<T: Send + 'static>(
    path: &Path,
    f: impl FnOnce(&Path) -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let path = path.to_path_buf();
    to_thread(move || f(&path))
}

/// The whole file as bytes (`std::fs::read`).
///
/// ```
/// use yieldfrom::{run, Coro, fs};
/// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-read-{}", std::process::id()));
/// run(Coro::new("main", move || -> std::io::Result<()> {
/// # fs::create_dir_all(&dir)?;
///     fs::write(dir.join("data.bin"), [1u8, 2, 3])?;
///     assert_eq!(fs::read(dir.join("data.bin"))?, [1, 2, 3]);
/// # fs::remove_dir_all(&dir)?;
///     Ok(())
/// }))
/// .unwrap();
/// ```
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    on_thread(path.as_ref(), |p| std::fs::read(p))
}

/// The whole file as UTF-8 text (`std::fs::read_to_string`).
///
/// ```
/// use yieldfrom::{run, Coro, fs};
/// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-read_to_string-{}", std::process::id()));
/// run(Coro::new("main", move || -> std::io::Result<()> {
/// # fs::create_dir_all(&dir)?;
///     fs::write(dir.join("note.txt"), "hi")?;
///     assert_eq!(fs::read_to_string(dir.join("note.txt"))?, "hi");
///     assert!(fs::read_to_string(dir.join("missing.txt")).is_err());
/// # fs::remove_dir_all(&dir)?;
///     Ok(())
/// }))
/// .unwrap();
/// ```
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    on_thread(path.as_ref(), |p| std::fs::read_to_string(p))
}

/// Creates or truncates the file and writes `contents` (`std::fs::write`).
///
/// ```
/// use yieldfrom::{run, Coro, fs};
/// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-write-{}", std::process::id()));
/// run(Coro::new("main", move || -> std::io::Result<()> {
/// # fs::create_dir_all(&dir)?;
///     fs::write(dir.join("out.txt"), "first")?;
///     fs::write(dir.join("out.txt"), "second")?; // replaces it
///     assert_eq!(fs::read_to_string(dir.join("out.txt"))?, "second");
/// # fs::remove_dir_all(&dir)?;
///     Ok(())
/// }))
/// .unwrap();
/// ```
pub fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> io::Result<()> {
    let contents = contents.as_ref().to_vec();
    on_thread(path.as_ref(), move |p| std::fs::write(p, contents))
}

/// The file's metadata, following symbolic links (`std::fs::metadata`).
///
/// ```
/// use yieldfrom::{run, Coro, fs};
/// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-metadata-{}", std::process::id()));
/// run(Coro::new("main", move || -> std::io::Result<()> {
/// # fs::create_dir_all(&dir)?;
///     fs::write(dir.join("five.txt"), "12345")?;
///     assert_eq!(fs::metadata(dir.join("five.txt"))?.len(), 5);
/// # fs::remove_dir_all(&dir)?;
///     Ok(())
/// }))
/// .unwrap();
/// ```
pub fn metadata(path: impl AsRef<Path>) -> io::Result<std::fs::Metadata> {
    on_thread(path.as_ref(), |p| std::fs::metadata(p))
}

/// One entry of a directory, as [`read_dir`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's full path.
    pub path: PathBuf,
    /// Its name in the directory.
    pub file_name: std::ffi::OsString,
    /// Whether it is a directory (not following a symbolic link).
    pub is_dir: bool,
}

/// The entries of a directory, sorted by name (`std::fs::read_dir`, read
/// whole on the worker: one hand-off for the directory, not one per entry).
///
/// ```
/// use yieldfrom::{run, Coro, fs};
/// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-read_dir-{}", std::process::id()));
/// run(Coro::new("main", move || -> std::io::Result<()> {
/// # fs::create_dir_all(&dir)?;
///     fs::write(dir.join("b.txt"), "")?;
///     fs::create_dir_all(dir.join("a"))?;
///     let names: Vec<_> = fs::read_dir(&dir)?.into_iter().map(|e| (e.file_name, e.is_dir)).collect();
///     assert_eq!(names, [("a".into(), true), ("b.txt".into(), false)]);
/// # fs::remove_dir_all(&dir)?;
///     Ok(())
/// }))
/// .unwrap();
/// ```
pub fn read_dir(path: impl AsRef<Path>) -> io::Result<Vec<DirEntry>> {
    on_thread(path.as_ref(), |p| {
        let mut entries = Vec::new();
        for entry in std::fs::read_dir(p)? {
            let entry = entry?;
            entries.push(DirEntry {
                path: entry.path(),
                file_name: entry.file_name(),
                is_dir: entry.file_type()?.is_dir(),
            });
        }
        entries.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        Ok(entries)
    })
}

/// Creates a directory and every missing parent (`std::fs::create_dir_all`).
///
/// ```
/// use yieldfrom::{run, Coro, fs};
/// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-create_dir_all-{}", std::process::id()));
/// run(Coro::new("main", move || -> std::io::Result<()> {
/// # fs::create_dir_all(&dir)?;
///     fs::create_dir_all(dir.join("x/y/z"))?;
///     assert!(fs::metadata(dir.join("x/y/z"))?.is_dir());
/// # fs::remove_dir_all(&dir)?;
///     Ok(())
/// }))
/// .unwrap();
/// ```
pub fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    on_thread(path.as_ref(), |p| std::fs::create_dir_all(p))
}

/// Removes a file (`std::fs::remove_file`).
///
/// ```
/// use yieldfrom::{run, Coro, fs};
/// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-remove_file-{}", std::process::id()));
/// run(Coro::new("main", move || -> std::io::Result<()> {
/// # fs::create_dir_all(&dir)?;
///     fs::write(dir.join("tmp"), "")?;
///     fs::remove_file(dir.join("tmp"))?;
///     assert!(fs::metadata(dir.join("tmp")).is_err());
/// # fs::remove_dir_all(&dir)?;
///     Ok(())
/// }))
/// .unwrap();
/// ```
pub fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    on_thread(path.as_ref(), |p| std::fs::remove_file(p))
}

/// Removes a directory and everything in it (`std::fs::remove_dir_all`).
///
/// ```
/// use yieldfrom::{run, Coro, fs};
/// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-remove_dir_all-{}", std::process::id()));
/// run(Coro::new("main", move || -> std::io::Result<()> {
/// # fs::create_dir_all(&dir)?;
///     fs::create_dir_all(dir.join("tree/leaf"))?;
///     fs::remove_dir_all(dir.join("tree"))?;
///     assert!(fs::read_dir(&dir)?.is_empty());
/// # fs::remove_dir_all(&dir)?;
///     Ok(())
/// }))
/// .unwrap();
/// ```
pub fn remove_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    on_thread(path.as_ref(), |p| std::fs::remove_dir_all(p))
}

/// Renames a file or directory (`std::fs::rename`).
///
/// ```
/// use yieldfrom::{run, Coro, fs};
/// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-rename-{}", std::process::id()));
/// run(Coro::new("main", move || -> std::io::Result<()> {
/// # fs::create_dir_all(&dir)?;
///     fs::write(dir.join("draft"), "text")?;
///     fs::rename(dir.join("draft"), dir.join("final"))?;
///     assert_eq!(fs::read_to_string(dir.join("final"))?, "text");
/// # fs::remove_dir_all(&dir)?;
///     Ok(())
/// }))
/// .unwrap();
/// ```
pub fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let to = to.as_ref().to_path_buf();
    on_thread(from.as_ref(), move |from| std::fs::rename(from, to))
}

/// An open file whose operations run on the worker threads
/// (`tokio::fs::File`, `aiofiles.open`).
///
/// Each call is one hand-off: [`read`](File::read) reads up to the buffer's
/// length, [`write_all`](File::write_all) writes it all. Clones share the
/// file and its offset, as duplicated descriptors do.
///
/// ```
/// use yieldfrom::{run, Coro, fs::File};
/// let path = std::env::temp_dir().join(format!("yieldfrom-file-doc-{}", std::process::id()));
/// let (n, head) = run(Coro::new("main", move || {
///     let f = File::create(&path).unwrap();
///     f.write_all(b"line one\nline two\n").unwrap();
///     f.sync_all().unwrap();
///     let f = File::open(&path).unwrap();
///     let mut buf = [0u8; 8];
///     let n = f.read(&mut buf).unwrap();
///     yieldfrom::fs::remove_file(&path).unwrap();
///     (n, buf)
/// }));
/// assert_eq!((n, &head), (8, b"line one"));
/// ```
#[derive(Clone, Debug)]
pub struct File {
    /// The file, shared with the worker threads its operations run on.
    file: Arc<std::fs::File>,
}

impl File {
    /// Opens a file for reading (`std::fs::File::open`).
    ///
    /// ```
    /// use yieldfrom::{run, Coro, fs};
    /// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-open-{}", std::process::id()));
    /// run(Coro::new("main", move || -> std::io::Result<()> {
    /// # fs::create_dir_all(&dir)?;
    ///     fs::write(dir.join("in.txt"), "abc")?;
    ///     let file = fs::File::open(dir.join("in.txt"))?;
    ///     assert_eq!(file.read_to_end()?, b"abc");
    /// # fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn open(path: impl AsRef<Path>) -> io::Result<File> {
        on_thread(path.as_ref(), |p| std::fs::File::open(p)).map(File::from_std)
    }

    /// Creates (or truncates) a file for writing (`std::fs::File::create`).
    ///
    /// ```
    /// use yieldfrom::{run, Coro, fs};
    /// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-create-{}", std::process::id()));
    /// run(Coro::new("main", move || -> std::io::Result<()> {
    /// # fs::create_dir_all(&dir)?;
    ///     let file = fs::File::create(dir.join("new.txt"))?;
    ///     file.write_all(b"fresh")?;
    ///     assert_eq!(fs::read_to_string(dir.join("new.txt"))?, "fresh");
    /// # fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn create(path: impl AsRef<Path>) -> io::Result<File> {
        on_thread(path.as_ref(), |p| std::fs::File::create(p)).map(File::from_std)
    }

    /// Opens a file as `options` say (append, read and write, create new...).
    ///
    /// ```
    /// use yieldfrom::{run, Coro, fs};
    /// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-open_with-{}", std::process::id()));
    /// run(Coro::new("main", move || -> std::io::Result<()> {
    /// # fs::create_dir_all(&dir)?;
    ///     fs::write(dir.join("log"), "one\n")?;
    ///     let mut options = std::fs::OpenOptions::new();
    ///     options.append(true);
    ///     fs::File::open_with(dir.join("log"), options)?.write_all(b"two\n")?;
    ///     assert_eq!(fs::read_to_string(dir.join("log"))?, "one\ntwo\n");
    /// # fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn open_with(path: impl AsRef<Path>, options: std::fs::OpenOptions) -> io::Result<File> {
        on_thread(path.as_ref(), move |p| options.open(p)).map(File::from_std)
    }

    /// Wraps an open `std` file.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, fs};
    /// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-from_std-{}", std::process::id()));
    /// run(Coro::new("main", move || -> std::io::Result<()> {
    /// # fs::create_dir_all(&dir)?;
    ///     let std_file = std::fs::File::create(dir.join("std.txt"))?;
    ///     let file = fs::File::from_std(std_file);
    ///     file.write_all(b"via std")?;
    /// # fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn from_std(file: std::fs::File) -> File {
        File {
            file: Arc::new(file),
        }
    }

    /// Reads up to `buf.len()` bytes at the file's offset; 0 at its end.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, fs};
    /// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-file_read-{}", std::process::id()));
    /// run(Coro::new("main", move || -> std::io::Result<()> {
    /// # fs::create_dir_all(&dir)?;
    ///     fs::write(dir.join("r.txt"), "hello")?;
    ///     let file = fs::File::open(dir.join("r.txt"))?;
    ///     let mut buf = [0u8; 3];
    ///     assert_eq!(file.read(&mut buf)?, 3);
    ///     assert_eq!(&buf, b"hel");
    /// # fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let (file, len) = (self.file.clone(), buf.len());
        let (n, data) = to_thread(move || {
            let mut data = vec![0u8; len];
            let n = (&*file).read(&mut data)?;
            io::Result::Ok((n, data))
        })?;
        buf[..n].copy_from_slice(&data[..n]);
        Ok(n)
    }

    /// Reads from the file's offset to its end.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, fs};
    /// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-read_to_end-{}", std::process::id()));
    /// run(Coro::new("main", move || -> std::io::Result<()> {
    /// # fs::create_dir_all(&dir)?;
    ///     fs::write(dir.join("all.txt"), "everything")?;
    ///     assert_eq!(fs::File::open(dir.join("all.txt"))?.read_to_end()?, b"everything");
    /// # fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn read_to_end(&self) -> io::Result<Vec<u8>> {
        let file = self.file.clone();
        to_thread(move || {
            let mut data = Vec::new();
            (&*file).read_to_end(&mut data)?;
            Ok(data)
        })
    }

    /// Writes all of `buf` at the file's offset.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, fs};
    /// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-write_all-{}", std::process::id()));
    /// run(Coro::new("main", move || -> std::io::Result<()> {
    /// # fs::create_dir_all(&dir)?;
    ///     let file = fs::File::create(dir.join("w.txt"))?;
    ///     file.write_all(b"part one, ")?;
    ///     file.write_all(b"part two")?;
    ///     assert_eq!(fs::read_to_string(dir.join("w.txt"))?, "part one, part two");
    /// # fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        let (file, data) = (self.file.clone(), buf.to_vec());
        to_thread(move || (&*file).write_all(&data))
    }

    /// Moves the file's offset (`Seek::seek`); returns the new one.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, fs};
    /// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-seek-{}", std::process::id()));
    /// run(Coro::new("main", move || -> std::io::Result<()> {
    /// # fs::create_dir_all(&dir)?;
    ///     fs::write(dir.join("s.txt"), "0123456789")?;
    ///     let file = fs::File::open(dir.join("s.txt"))?;
    ///     assert_eq!(file.seek(std::io::SeekFrom::Start(7))?, 7);
    ///     assert_eq!(file.read_to_end()?, b"789");
    /// # fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn seek(&self, to: SeekFrom) -> io::Result<u64> {
        let file = self.file.clone();
        to_thread(move || (&*file).seek(to))
    }

    /// Waits until the data and metadata are on the disk (`fsync`).
    ///
    /// ```
    /// use yieldfrom::{run, Coro, fs};
    /// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-sync_all-{}", std::process::id()));
    /// run(Coro::new("main", move || -> std::io::Result<()> {
    /// # fs::create_dir_all(&dir)?;
    ///     let file = fs::File::create(dir.join("durable.txt"))?;
    ///     file.write_all(b"kept")?;
    ///     file.sync_all()?; // on the disk, not just in the page cache
    /// # fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn sync_all(&self) -> io::Result<()> {
        let file = self.file.clone();
        to_thread(move || file.sync_all())
    }

    /// The file's metadata.
    ///
    /// ```
    /// use yieldfrom::{run, Coro, fs};
    /// # let dir = std::env::temp_dir().join(format!("yieldfrom-doc-file_metadata-{}", std::process::id()));
    /// run(Coro::new("main", move || -> std::io::Result<()> {
    /// # fs::create_dir_all(&dir)?;
    ///     let file = fs::File::create(dir.join("m.txt"))?;
    ///     file.write_all(b"1234")?;
    ///     assert_eq!(file.metadata()?.len(), 4);
    /// # fs::remove_dir_all(&dir)?;
    ///     Ok(())
    /// }))
    /// .unwrap();
    /// ```
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        let file = self.file.clone();
        to_thread(move || file.metadata())
    }
}
