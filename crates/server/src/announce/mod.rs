//! DNS-SD: a server that listens beyond loopback says so on the local network, so that
//! clients find it by name (`smbus-proxy servers`, `mdns://NAME`) instead of by address.
//!
//! The responder is the server's own, on simple-dns's packets, and runs on a thread of its own.
//! It answers multicast DNS queries for the server's records (the `_smbus-proxy._tcp` PTR, the
//! instance's SRV and TXT, the host's A and AAAA), announces them when it starts and withdraws
//! them when it stops, and probes for its name first, taking `NAME (2)` if another server on
//! the link has it. What it keeps is only its own: a cache of other hosts' records is a
//! browser's need, and a responder that kept one (mdns-sd's grew by 15 KiB for every 1.2 KB
//! packet a peer sent) could be made to hold any amount. And it answers only queries from its
//! own link (RFC 6762 §5.5, §11): answering one from a routed source would make the server a
//! reflector of spoofed traffic. Its answers are limited in rate as well. Nothing else on the
//! machine (Avahi, Bonjour) is needed, and one that is there keeps working beside it. A server
//! on loopback only is not announced: nobody else could reach it.

mod records;

use records::{Heard, Records};
use simple_dns::{CLASS, Packet, QTYPE, Question};
use smbus_proxy_wire::discovery::{Announcement, SERVICE_TYPE};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::Instant;
use tracing::{debug, info, warn};

const PORT: u16 = 5353;
const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0xfb);
/// Probes before a name is taken, and the time between them (RFC 6762 §8.1).
const PROBES: u32 = 3;
const PROBE_GAP: Duration = Duration::from_millis(250);
/// The interfaces' addresses are read again this often; a change is announced.
const REFRESH: Duration = Duration::from_secs(5);
/// Answers at most this many a second, after a burst of as many again: enough for every
/// browser on a link, too few to make the server an amplifier.
const ANSWERS_PER_SECOND: f64 = 20.0;
/// How long the goodbye may take when the server stops.
const GOODBYE_WAIT: Duration = Duration::from_secs(1);

/// The announcement, for as long as it lives; dropping it says goodbye, so that browsers
/// forget the server at once instead of when the records' TTL runs out.
pub(crate) struct Announcer {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Announcer {
    /// Announces the server listening on `listen` as `name` (else the host name), on the
    /// interfaces that reach it: all but loopback for an unspecified address (IPv4 only for
    /// 0.0.0.0), else the one with that address. `Ok(None)`: on loopback, not announced.
    pub(crate) fn start(
        listen: SocketAddr,
        name: Option<&str>,
        what: &Announcement,
    ) -> Result<Option<Announcer>, String> {
        if listen.ip().is_loopback() {
            info!(%listen, "not announced on the network (DNS-SD): the server listens on loopback only");
            return Ok(None);
        }
        let host = host_name();
        let name = name.unwrap_or(&host).to_owned();
        let fail = |e: std::io::Error| format!("cannot announce {name} (DNS-SD): {e}");
        let scope = Scope(listen.ip());
        let interfaces = scope.interfaces();
        // The sockets are made here, so that a failure is the caller's to report.
        let v4 = scope.v4().then(|| socket_v4(&interfaces)).transpose().map_err(fail)?;
        let v6 = scope.v6().then(|| socket_v6(&interfaces)).transpose().map_err(fail)?;
        let records = Records {
            instance: name.clone(),
            host: format!("{host}.local"),
            port: listen.port(),
            txt: what.to_txt().into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("announce".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(runtime) => runtime,
                    Err(e) => return warn!("cannot announce (DNS-SD): {e}"),
                };
                runtime.block_on(async move {
                    let sockets = [v4, v6].into_iter().flatten().map(UdpSocket::from_std);
                    let sockets: Result<Vec<_>, _> = sockets.collect();
                    match sockets {
                        Ok(sockets) => Responder::new(scope, interfaces, sockets, records).run(stopped).await,
                        Err(e) => warn!("cannot announce (DNS-SD): {e}"),
                    }
                });
            })
            .map_err(fail)?;
        info!(%name, service = SERVICE_TYPE, record = %what, "announced on the network (DNS-SD)");
        Ok(Some(Announcer { stop: Some(stop), thread: Some(thread) }))
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// This machine's name, first label only (`raspberrypi`, not `raspberrypi.lan`), which
/// names both the service and the host in `.local`.
fn host_name() -> String {
    let full = gethostname::gethostname().to_string_lossy().into_owned();
    let label = full.split('.').next().unwrap_or("").trim();
    if label.is_empty() { "smbus-proxy".to_owned() } else { label.to_owned() }
}

/// Where the server listens, which says on which interfaces and with which addresses it is
/// announced.
#[derive(Clone, Copy)]
struct Scope(IpAddr);

impl Scope {
    fn v4(&self) -> bool {
        match self.0 {
            IpAddr::V4(_) => true,
            IpAddr::V6(v6) => v6.is_unspecified(),
        }
    }

    fn v6(&self) -> bool {
        self.0.is_ipv6()
    }

    /// The interface addresses the server can be reached on: not loopback, of the families it
    /// listens on, only the one it listens on if it names one.
    fn interfaces(&self) -> Vec<if_addrs::Interface> {
        let all = if_addrs::get_if_addrs().unwrap_or_default();
        all.into_iter()
            .filter(|i| !i.is_loopback())
            .filter(|i| match (i.ip(), self.0) {
                (ip, listen) if !listen.is_unspecified() => ip == listen,
                (IpAddr::V4(_), _) => self.v4(),
                (IpAddr::V6(_), _) => self.v6(),
            })
            .collect()
    }
}

fn socket_v4(interfaces: &[if_addrs::Interface]) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Shared with the machine's own responder, if it has one.
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)).into())?;
    socket.set_multicast_ttl_v4(255)?;
    socket.set_multicast_loop_v4(true)?;
    for interface in interfaces {
        if let IpAddr::V4(ip) = interface.ip()
            && let Err(e) = socket.join_multicast_v4(&GROUP_V4, &ip)
        {
            debug!(interface = %interface.name, "DNS-SD: cannot join {GROUP_V4}: {e}");
        }
    }
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn socket_v6(interfaces: &[if_addrs::Interface]) -> std::io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_only_v6(true)?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, PORT)).into())?;
    socket.set_multicast_hops_v6(255)?;
    socket.set_multicast_loop_v6(true)?;
    let mut joined = Vec::new();
    for interface in interfaces {
        if let (IpAddr::V6(_), Some(index)) = (interface.ip(), interface.index)
            && !joined.contains(&index)
        {
            joined.push(index);
            if let Err(e) = socket.join_multicast_v6(&GROUP_V6, index) {
                debug!(interface = %interface.name, "DNS-SD: cannot join {GROUP_V6}: {e}");
            }
        }
    }
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A token bucket: the answers the responder may still send now.
struct Rate {
    tokens: f64,
    at: Instant,
}

impl Rate {
    fn allow(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * ANSWERS_PER_SECOND;
        self.tokens = (self.tokens + refill).min(ANSWERS_PER_SECOND);
        self.at = now;
        if self.tokens < 1.0 {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

struct Responder {
    scope: Scope,
    interfaces: Vec<if_addrs::Interface>,
    sockets: Vec<UdpSocket>,
    records: Records,
    rate: Rate,
}

/// What the responder is doing.
enum Phase {
    /// Asking whether anyone has the name, `n` probes sent.
    Probing(u32),
    /// Announcing, `n` announcements sent.
    Announcing(u32),
    /// Answering queries.
    Serving,
}

impl Responder {
    fn new(
        scope: Scope,
        interfaces: Vec<if_addrs::Interface>,
        sockets: Vec<UdpSocket>,
        records: Records,
    ) -> Self {
        let rate = Rate { tokens: ANSWERS_PER_SECOND, at: Instant::now() };
        Responder { scope, interfaces, sockets, records, rate }
    }

    async fn run(mut self, mut stopped: tokio::sync::oneshot::Receiver<()>) {
        let mut phase = Phase::Probing(0);
        let mut next = Instant::now() + Duration::from_millis(20);
        let mut refresh = Instant::now() + REFRESH;
        // RFC 6762 §17: no datagram is larger.
        let (mut buf0, mut buf1) = (vec![0u8; 9000], vec![0u8; 9000]);
        loop {
            let step = next.min(refresh);
            let received = tokio::select! {
                _ = &mut stopped => break,
                () = tokio::time::sleep_until(step) => None,
                r = self.sockets[0].recv_from(&mut buf0) => r.ok().map(|(n, from)| (0, n, from)),
                r = async {
                    match self.sockets.get(1) {
                        Some(socket) => socket.recv_from(&mut buf1).await,
                        None => std::future::pending().await,
                    }
                }, if self.sockets.len() > 1 => r.ok().map(|(n, from)| (1, n, from)),
            };
            if let Some((socket, n, from)) = received {
                let probing = matches!(phase, Phase::Probing(_));
                let datagram = if socket == 0 { &buf0[..n] } else { &buf1[..n] };
                if self.receive(socket, datagram, from, probing).await {
                    self.rename();
                    phase = Phase::Probing(0);
                    next = Instant::now() + PROBE_GAP;
                }
                continue;
            }
            let now = Instant::now();
            if now >= refresh {
                refresh = now + REFRESH;
                let interfaces = self.scope.interfaces();
                if interfaces.iter().map(|i| i.ip()).ne(self.interfaces.iter().map(|i| i.ip())) {
                    debug!("DNS-SD: the interfaces' addresses changed; announcing again");
                    self.interfaces = interfaces;
                    self.join();
                    if matches!(phase, Phase::Serving) {
                        phase = Phase::Announcing(0);
                        next = now;
                    }
                }
            }
            if now >= next {
                (phase, next) = match phase {
                    Phase::Probing(n) if n < PROBES => {
                        self.probe().await;
                        (Phase::Probing(n + 1), now + PROBE_GAP)
                    }
                    Phase::Probing(_) | Phase::Announcing(0) => {
                        self.announce(None).await;
                        debug!(name = %self.records.instance, "announced");
                        (Phase::Announcing(1), now + Duration::from_secs(1))
                    }
                    Phase::Announcing(_) => {
                        self.announce(None).await;
                        (Phase::Serving, now + Duration::from_secs(3600))
                    }
                    Phase::Serving => (Phase::Serving, now + Duration::from_secs(3600)),
                };
            }
        }
        if !matches!(phase, Phase::Probing(_)) {
            let _ = tokio::time::timeout(GOODBYE_WAIT, self.announce(Some(0))).await;
        }
    }

    /// Joins the group on interfaces that came since.
    fn join(&self) {
        for socket in &self.sockets {
            let socket = SockRef::from(socket);
            for interface in &self.interfaces {
                let _ = match (interface.ip(), interface.index) {
                    (IpAddr::V4(ip), _) if self.scope.v4() => socket.join_multicast_v4(&GROUP_V4, &ip),
                    (IpAddr::V6(_), Some(index)) if self.scope.v6() => {
                        socket.join_multicast_v6(&GROUP_V6, index)
                    }
                    _ => continue,
                };
            }
        }
    }

    /// Another server has the name: the next free-looking one, `NAME (2)`, `NAME (3)`, …
    fn rename(&mut self) {
        let old = self.records.instance.clone();
        let (base, n) =
            match old.rsplit_once(" (").and_then(|(b, n)| Some((b, n.strip_suffix(')')?.parse().ok()?))) {
                Some((base, n)) => (base.to_owned(), n),
                None => (old.clone(), 1u32),
            };
        self.records.instance = format!("{base} ({})", n + 1);
        warn!(name = %old, new = %self.records.instance, "another server on the network has this name; announced under the new one (--announce-name chooses)");
    }

    /// Handles a datagram from `from` on socket `socket`; true if it shows that another host
    /// has the name the responder is probing for.
    async fn receive(&mut self, socket: usize, datagram: &[u8], from: SocketAddr, probing: bool) -> bool {
        let Some(addresses) = self.on_link(from) else {
            debug!(%from, "DNS-SD: ignored a datagram from beyond the local link");
            return false;
        };
        // A legacy querier (not from port 5353) is answered alone; anyone else on the link,
        // by multicast, even when it asked for unicast (RFC 6762 §5.4 allows it): responders
        // on one host share port 5353, and the kernel hands a unicast datagram to only one of
        // them, which need not be the prober asking whether a name is free.
        let legacy = from.port() != PORT;
        let bytes = match records::hear(&self.records, datagram, legacy, &addresses) {
            Heard::Claim => return probing,
            Heard::Query(Some(bytes)) if !probing && self.rate.allow() => bytes,
            Heard::Query(_) | Heard::Nothing => return false,
        };
        let to = if legacy { from } else { self.group(socket) };
        if !legacy {
            self.multicast_on(socket, from);
        }
        if let Err(e) = self.sockets[socket].send_to(&bytes, to).await {
            debug!(%to, "DNS-SD: cannot answer: {e}");
        }
        false
    }

    /// The addresses to answer a querier at `from` with, if it is on the link of one of the
    /// interfaces: that interface's.
    fn on_link(&self, from: SocketAddr) -> Option<Vec<IpAddr>> {
        let interface = self.interfaces.iter().find(|i| match (i.addr.clone(), from) {
            (if_addrs::IfAddr::V4(v4), SocketAddr::V4(src)) => {
                let mask = u32::from(v4.netmask);
                u32::from(v4.ip) & mask == u32::from(*src.ip()) & mask
            }
            (if_addrs::IfAddr::V6(v6), SocketAddr::V6(src)) => {
                if src.ip().is_unicast_link_local() {
                    src.scope_id() == 0 || i.index == Some(src.scope_id())
                } else {
                    let mask = u128::from(v6.netmask);
                    u128::from(v6.ip) & mask == u128::from(*src.ip()) & mask
                }
            }
            _ => false,
        })?;
        let addresses = self.interfaces.iter().filter(|i| i.name == interface.name).map(|i| i.ip()).collect();
        Some(addresses)
    }

    fn group(&self, socket: usize) -> SocketAddr {
        match self.sockets[socket].local_addr() {
            Ok(SocketAddr::V6(_)) => SocketAddrV6::new(GROUP_V6, PORT, 0, 0).into(),
            _ => SocketAddrV4::new(GROUP_V4, PORT).into(),
        }
    }

    /// Sends the next multicast of `socket` out of the interface `from` is on.
    fn multicast_on(&self, socket: usize, from: SocketAddr) {
        let Some(interface) = self.interfaces.iter().find(|i| {
            let addresses = self.on_link(from).unwrap_or_default();
            addresses.contains(&i.ip())
        }) else {
            return;
        };
        let socket = SockRef::from(&self.sockets[socket]);
        let _ = match (interface.ip(), interface.index) {
            (IpAddr::V4(ip), _) => socket.set_multicast_if_v4(&ip),
            (IpAddr::V6(_), Some(index)) => socket.set_multicast_if_v6(index),
            _ => Ok(()),
        };
    }

    /// Multicasts, on every interface, each interface's records: an announcement, or with
    /// `ttl` 0 a goodbye.
    async fn announce(&self, ttl: Option<u32>) {
        self.on_each_interface(|addresses| records::announcement(&self.records, addresses, ttl)).await;
    }

    /// Asks the link whether anyone has the instance name (RFC 6762 §8.1): an ANY query,
    /// asking for unicast answers, with the records the responder means to claim.
    async fn probe(&self) {
        let Ok(instance) = self.records.instance() else { return };
        let mut query = Packet::new_query(0);
        query.questions.push(Question::new(instance, QTYPE::ANY, simple_dns::QCLASS::CLASS(CLASS::IN), true));
        query.name_servers = vec![self.records.srv(), self.records.txt()];
        let Ok(bytes) = query.build_bytes_vec_compressed() else { return };
        self.on_each_interface(|_| Some(bytes.clone())).await;
    }

    /// Multicasts what `packet` makes of each interface's addresses, out of that interface,
    /// on every socket of its family.
    async fn on_each_interface(&self, packet: impl Fn(&[IpAddr]) -> Option<Vec<u8>>) {
        let mut names: Vec<&str> = self.interfaces.iter().map(|i| i.name.as_str()).collect();
        names.dedup();
        for (socket, udp) in self.sockets.iter().enumerate() {
            let v6 = matches!(udp.local_addr(), Ok(SocketAddr::V6(_)));
            for name in &names {
                let on: Vec<&if_addrs::Interface> =
                    self.interfaces.iter().filter(|i| i.name == *name).collect();
                let Some(out) = on.iter().find(|i| i.ip().is_ipv6() == v6) else { continue };
                let addresses: Vec<IpAddr> = on.iter().map(|i| i.ip()).collect();
                let Some(bytes) = packet(&addresses) else { continue };
                let sock = SockRef::from(udp);
                let _ = match (out.ip(), out.index) {
                    (IpAddr::V4(ip), _) => sock.set_multicast_if_v4(&ip),
                    (IpAddr::V6(_), Some(index)) => sock.set_multicast_if_v6(index),
                    _ => Ok(()),
                };
                if let Err(e) = udp.send_to(&bytes, self.group(socket)).await {
                    debug!(interface = %name, "DNS-SD: cannot send: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_of_answers_is_bounded() {
        let mut rate = Rate { tokens: ANSWERS_PER_SECOND, at: Instant::now() };
        let allowed = (0..1000).filter(|_| rate.allow()).count();
        assert!(allowed <= ANSWERS_PER_SECOND as usize + 1, "{allowed}");
    }
}
