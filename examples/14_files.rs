//! 14 — Files: reading and writing without stopping the loop.
//!
//! Python (with the `aiofiles` package; asyncio itself has no file API):
//! ```python
//! async def save(name, text):
//!     async with aiofiles.open(name, "w") as f:
//!         await f.write(text)
//! async def main():
//!     await asyncio.gather(*(save(f"note{i}.txt", f"note {i}") for i in range(3)))
//! ```
//!
//! What to notice: a regular file is never "not ready" to the kernel, so
//! there is nothing for the loop to wait on — a `read` just blocks the
//! thread until the disk answers. `yieldfrom::fs` (as `aiofiles` and
//! `tokio::fs` do) runs each call on a worker thread and suspends only the
//! task that made it; the timeline shows each task paused on "a worker
//! thread" while the others carry on.
//!
//! Expected output:
//! ```text
//! wrote 3 notes concurrently
//! note0.txt: note 0
//! note1.txt: note 1
//! note2.txt: note 2
//! cleaned up
//! ```

use yieldfrom::{Coro, combinators::gather, fs, run};

pub fn main() {
    let dir = std::env::temp_dir().join(format!("yieldfrom-14-files-{}", std::process::id()));
    run(Coro::new("main", move || {
        fs::create_dir_all(&dir).expect("a temporary directory");
        let writers = (0..3).map(|i| {
            let path = dir.join(format!("note{i}.txt"));
            Coro::new("save", move || {
                fs::write(&path, format!("note {i}")).expect("the note is written")
            })
        });
        gather(writers);
        println!("wrote 3 notes concurrently");
        for entry in fs::read_dir(&dir).expect("the directory lists") {
            let text = fs::read_to_string(&entry.path).expect("the note reads back");
            println!("{}: {text}", entry.file_name.to_string_lossy());
        }
        fs::remove_dir_all(&dir).expect("the directory is removed");
        println!("cleaned up");
    }));
}
