//! Host names to addresses without blocking the loop (asyncio's
//! `loop.getaddrinfo`), and connecting to a name's addresses with Happy
//! Eyeballs (RFC 8305; asyncio's `happy_eyeballs_delay`).
//!
//! `getaddrinfo(3)` blocks: with a DNS server that does not answer, for
//! seconds. Called on the loop's thread it stops every task, the
//! tutorial's `time.sleep` mistake inside the runtime. So a name is
//! resolved on the worker threads ([`to_thread`](crate::to_thread)) while
//! the task waits; an IP literal is not resolved at all. A timeout around a
//! connect covers the resolution too: the task stops waiting when time is
//! up (the worker thread finishes its lookup and the answer is dropped).
//!
//! The [`Resolver`] in use on a thread can be replaced
//! ([`set_resolver`]): the tests make slow and failing ones, and a service
//! can put a cache or its own DNS client there.
//!
//! ```text
//!  connect("db.internal:5432")
//!     │ resolve on a worker thread ──► [10.0.0.7, fd00::7]   (interleaved by family)
//!     ├─ attempt 1: 10.0.0.7 ........ no answer yet at 250 ms
//!     ├─ attempt 2: fd00::7 ──► connected: it wins, attempt 1 is closed
//! ```

use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::rc::Rc;
use std::time::Duration;

/// How long an attempt has before the next address is tried beside it
/// (RFC 8305 §5's recommended "Connection Attempt Delay").
pub const HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

/// Turns a host name into addresses. Called in the task that connects; it
/// may wait (suspend), never block the thread.
pub trait Resolver {
    /// The addresses of `host` (a name, never an IP literal: those skip
    /// the resolver) with `port`, in the order to try them.
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>>;
}

/// The system's resolver (`getaddrinfo`, with `/etc/hosts` and
/// `/etc/resolv.conf`), run on the worker threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        let target = (host.to_string(), port);
        crate::threads::to_thread(move || {
            std::net::ToSocketAddrs::to_socket_addrs(&target).map(Iterator::collect)
        })
    }
}

thread_local! {
    /// The resolver of this thread's loop (tasks never leave their thread).
    static RESOLVER: RefCell<Rc<dyn Resolver>> = RefCell::new(Rc::new(SystemResolver));
}

/// Replaces the resolver that names are resolved with on this thread (its
/// loop's tasks), returning the one in use before.
///
/// ```
/// use std::net::SocketAddr;
/// use std::rc::Rc;
/// use yieldfrom::net::{Resolver, lookup_host, set_resolver};
///
/// /// Every name is the loopback address.
/// struct Loopback;
/// impl Resolver for Loopback {
///     fn resolve(&self, _host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
///         Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))])
///     }
/// }
///
/// let before = set_resolver(Rc::new(Loopback));
/// let addrs = yieldfrom::run(yieldfrom::Coro::new("main", || lookup_host("db.internal:5432")));
/// assert_eq!(addrs.unwrap(), [SocketAddr::from(([127, 0, 0, 1], 5432))]);
/// set_resolver(before);
/// ```
pub fn set_resolver(resolver: Rc<dyn Resolver>) -> Rc<dyn Resolver> {
    RESOLVER.with(|r| std::mem::replace(&mut *r.borrow_mut(), resolver))
}

/// Where to connect: addresses already, or a name to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// IP addresses and ports: nothing to resolve.
    Addrs(Vec<SocketAddr>),
    /// A host name and a port.
    Name(String, u16),
}

/// What [`TcpStream::connect`](super::TcpStream::connect) and the other
/// connecting calls take: a [`SocketAddr`], `(ip, port)`, `(host, port)`,
/// `"host:port"`, `"[::1]:8000"`, or a slice of addresses. Unlike
/// `std::net::ToSocketAddrs`, turning it into a [`Target`] never resolves
/// a name: that happens later, off the loop's thread.
pub trait ToTarget {
    /// The addresses, or the name to resolve.
    fn to_target(&self) -> io::Result<Target>;
}

impl Target {
    /// The addresses: resolved with this thread's [`Resolver`] when a name.
    pub fn resolve(self) -> io::Result<Vec<SocketAddr>> {
        match self {
            Target::Addrs(addrs) => Ok(addrs),
            Target::Name(host, port) => {
                let resolver = RESOLVER.with(|r| r.borrow().clone());
                let addrs = resolver.resolve(&host, port)?;
                if addrs.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        format!("{host} resolves to no address"),
                    ));
                }
                Ok(interleave(addrs))
            }
        }
    }
}

/// Orders addresses by alternating families, starting with the family of
/// the first (RFC 8305 §4), so that a broken family costs one attempt, not
/// all of its addresses.
fn interleave(addrs: Vec<SocketAddr>) -> Vec<SocketAddr> {
    let first_v6 = addrs.first().is_some_and(SocketAddr::is_ipv6);
    let (mut first, mut second): (Vec<_>, Vec<_>) =
        addrs.into_iter().partition(|a| a.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(first.len() + second.len());
    first.reverse();
    second.reverse();
    loop {
        match (first.pop(), second.pop()) {
            (None, None) => return out,
            (a, b) => out.extend(a.into_iter().chain(b)),
        }
    }
}

/// The addresses of `host:port` (asyncio's `loop.getaddrinfo`, tokio's
/// `lookup_host`): IP literals as they are, names through this thread's
/// [`Resolver`] (by default on the worker threads). Call it from a task.
pub fn lookup_host(target: impl ToTarget) -> io::Result<Vec<SocketAddr>> {
    target.to_target()?.resolve()
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, what.to_string())
}

/// `"host:port"` (or `"[v6]:port"`, or an address): a target.
fn parse_host_port(s: &str) -> io::Result<Target> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(Target::Addrs(vec![addr]));
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| invalid("an address is `host:port`"))?;
    let port: u16 = port.parse().map_err(|_| invalid("a port is a number"))?;
    host_port(host, port)
}

fn host_port(host: &str, port: u16) -> io::Result<Target> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(Target::Addrs(vec![SocketAddr::new(ip, port)]));
    }
    if host.is_empty() {
        return Err(invalid("an empty host name"));
    }
    Ok(Target::Name(host.to_string(), port))
}

impl ToTarget for Target {
    fn to_target(&self) -> io::Result<Target> {
        Ok(self.clone())
    }
}

impl ToTarget for SocketAddr {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(vec![*self]))
    }
}

impl ToTarget for SocketAddrV4 {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(vec![(*self).into()]))
    }
}

impl ToTarget for SocketAddrV6 {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(vec![(*self).into()]))
    }
}

impl ToTarget for (IpAddr, u16) {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(vec![(*self).into()]))
    }
}

impl ToTarget for (Ipv4Addr, u16) {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(vec![(*self).into()]))
    }
}

impl ToTarget for (Ipv6Addr, u16) {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(vec![(*self).into()]))
    }
}

impl ToTarget for ([u8; 4], u16) {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(vec![(*self).into()]))
    }
}

impl ToTarget for (&str, u16) {
    fn to_target(&self) -> io::Result<Target> {
        host_port(self.0, self.1)
    }
}

impl ToTarget for (String, u16) {
    fn to_target(&self) -> io::Result<Target> {
        host_port(&self.0, self.1)
    }
}

impl ToTarget for str {
    fn to_target(&self) -> io::Result<Target> {
        parse_host_port(self)
    }
}

impl ToTarget for String {
    fn to_target(&self) -> io::Result<Target> {
        parse_host_port(self)
    }
}

impl ToTarget for [SocketAddr] {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(self.to_vec()))
    }
}

impl ToTarget for Vec<SocketAddr> {
    fn to_target(&self) -> io::Result<Target> {
        Ok(Target::Addrs(self.clone()))
    }
}

impl<T: ToTarget + ?Sized> ToTarget for &T {
    fn to_target(&self) -> io::Result<Target> {
        (**self).to_target()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_without_resolving() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!("127.0.0.1:80".to_target().unwrap(), Target::Addrs(vec![v4]));
        assert_eq!("[::1]:80".to_target().unwrap(), Target::Addrs(vec![v6]));
        assert_eq!(("::1", 80).to_target().unwrap(), Target::Addrs(vec![v6]));
        assert_eq!(
            "db.internal:5432".to_target().unwrap(),
            Target::Name("db.internal".into(), 5432)
        );
        assert_eq!(
            ("db.internal", 5432).to_target().unwrap(),
            Target::Name("db.internal".into(), 5432)
        );
        for bad in ["nohost", "h:port", ":80", "h:99999"] {
            assert!(bad.to_target().is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_alternate_families_from_the_first() {
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        let got = interleave(vec![
            a("[::1]:1"),
            a("[::2]:1"),
            a("[::3]:1"),
            a("10.0.0.1:1"),
        ]);
        assert_eq!(
            got,
            [a("[::1]:1"), a("10.0.0.1:1"), a("[::2]:1"), a("[::3]:1")]
        );
    }
}
