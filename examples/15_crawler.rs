//! 15 — A real program: a web crawler with a queue, a concurrency limit and
//! timeouts (the crawler of "500 Lines or Less", on yieldfrom).
//!
//! Python (asyncio + aiohttp, abridged from the 500 Lines crawler):
//! ```python
//! async def work(self):
//!     while True:
//!         url = await self.q.get()
//!         try:
//!             page = await asyncio.wait_for(self.fetch(url), 1.0)
//!             for link in self.parse_links(page):
//!                 if link not in self.seen:
//!                     self.seen.add(link); self.q.put_nowait(link)
//!         except asyncio.TimeoutError:
//!             self.timed_out.append(url)
//!         finally:
//!             self.q.task_done()
//! async def crawl(self):
//!     workers = [asyncio.create_task(self.work()) for _ in range(self.max_tasks)]
//!     await self.q.join()
//!     for w in workers: w.cancel()
//! ```
//!
//! What to notice: the site is served by this same program, on the same
//! loop (`yieldfrom::http`), and the crawler fetches it over real loopback
//! sockets with `yieldfrom::http::client` (aiohttp's `ClientSession`: one
//! client, its keep-alive connections shared by the workers). Three workers share one `Queue`: that is the concurrency limit
//! — never more than three fetches at once, however many links wait. Each
//! fetch has a 1 s deadline (the request's total limit, `.timeout(..)`); two pages answer in 3 s and are
//! given up on, so the four pages only they link to are never found.
//! `Queue::join` returns when every URL taken has been marked done, and then
//! the workers are cancelled, as in the Python.
//!
//! Expected output:
//! ```text
//! serving the site on 127.0.0.1
//! crawled 11 pages (9 fetched, 2 timed out) with 3 workers, at most 3 fetches at once
//! timed out after 1 s: /page/5, /page/6
//! deepest page: /page/15 (3 links from /page/1)
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use yieldfrom::http::client::{self, Client};
use yieldfrom::http::{self, Response, Router};
use yieldfrom::sync::Queue;
use yieldfrom::{Coro, EventLoop, sleep, spawn};

/// The last page of the site: page n links to pages 2n and 2n + 1.
const PAGES: u32 = 15;
/// Pages that answer slowly (3 s) and so time out.
const SLOW: [u32; 2] = [5, 6];
const WORKERS: usize = 3;
const DEADLINE: Duration = Duration::from_secs(1);

/// The site: `/page/{n}`, an HTML page with links to its two children.
fn site() -> Router {
    Router::new().get("/page/{n}", |req| {
        let Some(n) = req.param("n").and_then(|n| n.parse::<u32>().ok()) else {
            return Response::text("not a page").with_status(404);
        };
        if n == 0 || n > PAGES {
            return Response::text("no such page").with_status(404);
        }
        if SLOW.contains(&n) {
            sleep(Duration::from_secs(3));
        }
        let links: String = [2 * n, 2 * n + 1]
            .into_iter()
            .filter(|c| *c <= PAGES)
            .map(|c| format!(r#"<a href="/page/{c}">page {c}</a> "#))
            .collect();
        Response::new(200)
            .with_header("Content-Type", "text/html")
            .with_body(format!(
                "<html><body><h1>page {n}</h1>{links}</body></html>"
            ))
    })
}

/// GET `path` from `addr` with the shared client (aiohttp's
/// `session.get`): the status and the body, or the error (a timeout among
/// them: `DEADLINE` is the request's total limit).
fn fetch(client: &Client, addr: SocketAddr, path: &str) -> Result<(u16, String), client::Error> {
    let response = client
        .get(&format!("http://{addr}{path}"))?
        .timeout(DEADLINE)
        .send()?;
    let status = response.status();
    Ok((status, response.text()?))
}

/// The `href`s of a page.
fn links(page: &str) -> Vec<String> {
    page.split(r#"href=""#)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// What the crawl found.
#[derive(Default)]
struct Crawl {
    seen: RefCell<BTreeSet<String>>,
    done: RefCell<Vec<String>>,
    timed_out: RefCell<Vec<String>>,
    depth: RefCell<Vec<(String, usize)>>,
    in_flight: Cell<usize>,
    most_in_flight: Cell<usize>,
}

fn worker(
    client: Client,
    addr: SocketAddr,
    queue: Rc<Queue<(String, usize)>>,
    crawl: Rc<Crawl>,
) -> Coro<()> {
    Coro::new("worker", move || {
        loop {
            let (url, depth) = queue.get();
            crawl.in_flight.set(crawl.in_flight.get() + 1);
            crawl
                .most_in_flight
                .set(crawl.most_in_flight.get().max(crawl.in_flight.get()));
            let got = fetch(&client, addr, &url);
            crawl.in_flight.set(crawl.in_flight.get() - 1);
            match got {
                Ok((200, page)) => {
                    for link in links(&page) {
                        if crawl.seen.borrow_mut().insert(link.clone()) {
                            queue.put((link, depth + 1));
                        }
                    }
                    crawl.done.borrow_mut().push(url.clone());
                    crawl.depth.borrow_mut().push((url, depth));
                }
                Ok((status, _)) => eprintln!("{url}: HTTP {status}"),
                Err(e) if e.is_timeout() => crawl.timed_out.borrow_mut().push(url),
                Err(e) => eprintln!("{url}: {e}"),
            }
            queue.task_done();
        }
    })
}

pub fn main() {
    EventLoop::new().run(Coro::new("main", || {
        let server = http::serve("127.0.0.1:0", site()).expect("a loopback port");
        let addr = server.local_addr();
        println!("serving the site on {}", addr.ip());

        let queue = Rc::new(Queue::new(0));
        let crawl = Rc::new(Crawl::default());
        crawl.seen.borrow_mut().insert("/page/1".to_string());
        queue.put(("/page/1".to_string(), 0));
        // One client, its pool of keep-alive connections shared by the workers.
        let client = Client::new();
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| spawn(worker(client.clone(), addr, queue.clone(), crawl.clone())))
            .collect();
        queue.join(); // every URL taken has been marked done
        for w in workers {
            w.cancel();
        }
        // The two slow handlers are still sleeping: no grace, cancel them.
        server.shutdown(Duration::ZERO);

        let mut timed_out = crawl.timed_out.borrow().clone();
        timed_out.sort();
        println!(
            "crawled {} pages ({} fetched, {} timed out) with {WORKERS} workers, at most {} fetches at once",
            crawl.done.borrow().len() + timed_out.len(),
            crawl.done.borrow().len(),
            timed_out.len(),
            crawl.most_in_flight.get()
        );
        println!("timed out after 1 s: {}", timed_out.join(", "));
        let deepest = crawl
            .depth
            .borrow()
            .iter()
            .max_by_key(|(url, d)| (*d, url.len(), url.clone()))
            .cloned()
            .expect("a page was crawled");
        println!(
            "deepest page: {} ({} links from /page/1)",
            deepest.0, deepest.1
        );
    }));
}
