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

use simple_dns::rdata::{A, AAAA, PTR, RData, SRV, TXT};
use simple_dns::{CLASS, Name, Packet, PacketFlag, QTYPE, Question, ResourceRecord, TYPE};
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
/// The meta-query that lists the service types on a link (RFC 6763 §9).
const SERVICES: &str = "_services._dns-sd._udp.local";
/// Record lifetimes (RFC 6762 §10): records naming a host, and the rest.
const HOST_TTL: u32 = 120;
const OTHER_TTL: u32 = 4500;
/// The most a legacy (one-shot) querier is told a record lives (RFC 6762 §6.7).
const LEGACY_TTL: u32 = 10;
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

/// The server's records, as named on the link.
struct Records {
    instance: String,
    host: String,
    port: u16,
    txt: Vec<String>,
}

impl Records {
    /// The names involved: the service type, the instance, the host. Built anew each time,
    /// since the instance may be renamed.
    fn service(&self) -> Name<'_> {
        Name::new_unchecked(SERVICE_TYPE.trim_end_matches('.'))
    }

    fn instance(&self) -> Result<Name<'_>, simple_dns::SimpleDnsError> {
        // The instance is one label, whatever it holds (spaces, dots).
        let service = self.service();
        let mut labels = vec![simple_dns::Label::new(self.instance.as_bytes())?];
        labels.extend(service.get_labels().iter().cloned());
        Ok(Name::new_with_labels(&labels))
    }

    fn host(&self) -> Name<'_> {
        Name::new_unchecked(&self.host)
    }

    /// The records that answer `question`, for a querier on `interface`'s link; each comes
    /// with the records a querier will want next (RFC 6763 §12).
    fn answer(&self, question: &Question<'_>, addresses: &[IpAddr], out: &mut Answer<'_>) {
        let (Ok(instance), service, host) = (self.instance(), self.service(), self.host()) else { return };
        let wants = |ty: TYPE| matches!(question.qtype, QTYPE::ANY) || question.qtype == QTYPE::TYPE(ty);
        let name = &question.qname;
        if *name == service && wants(TYPE::PTR) {
            out.answer(self.ptr());
            out.extra(self.srv());
            out.extra(self.txt());
            self.addresses(addresses, |rr| out.extra(rr));
        } else if *name == Name::new_unchecked(SERVICES) && wants(TYPE::PTR) {
            out.answer(ResourceRecord::new(
                Name::new_unchecked(SERVICES),
                CLASS::IN,
                OTHER_TTL,
                RData::PTR(PTR(service.into_owned())),
            ));
        } else if *name == instance {
            if wants(TYPE::SRV) {
                out.answer(self.srv());
                self.addresses(addresses, |rr| out.extra(rr));
            }
            if wants(TYPE::TXT) {
                out.answer(self.txt());
            }
        } else if *name == host {
            let want_a = wants(TYPE::A);
            let want_aaaa = wants(TYPE::AAAA);
            self.addresses(addresses, |rr| {
                let is_a = matches!(rr.rdata, RData::A(_));
                if (is_a && want_a) || (!is_a && want_aaaa) {
                    out.answer(rr);
                }
            });
        }
    }

    /// Every record, as an announcement (or, with TTL 0, a goodbye) gives them.
    fn all(&self, addresses: &[IpAddr], out: &mut Answer<'_>) {
        out.answer(self.ptr());
        out.answer(self.srv());
        out.answer(self.txt());
        self.addresses(addresses, |rr| out.answer(rr));
    }

    fn ptr(&self) -> ResourceRecord<'static> {
        let instance = self.instance().map(Name::into_owned).unwrap_or_else(|_| self.service().into_owned());
        ResourceRecord::new(self.service().into_owned(), CLASS::IN, OTHER_TTL, RData::PTR(PTR(instance)))
    }

    fn srv(&self) -> ResourceRecord<'static> {
        let instance = self.instance().map(Name::into_owned).unwrap_or_else(|_| self.service().into_owned());
        let srv = SRV { priority: 0, weight: 0, port: self.port, target: self.host().into_owned() };
        ResourceRecord::new(instance, CLASS::IN, HOST_TTL, RData::SRV(srv)).with_cache_flush(true)
    }

    fn txt(&self) -> ResourceRecord<'static> {
        let instance = self.instance().map(Name::into_owned).unwrap_or_else(|_| self.service().into_owned());
        let mut txt = TXT::new();
        for pair in &self.txt {
            // Each is under 255 bytes (`Announcement::to_txt`); one that is not is left out.
            if let Ok(string) = pair.as_str().try_into() {
                txt.add_char_string(string);
            }
        }
        ResourceRecord::new(instance, CLASS::IN, OTHER_TTL, RData::TXT(txt.into_owned()))
            .with_cache_flush(true)
    }

    fn addresses(&self, addresses: &[IpAddr], mut each: impl FnMut(ResourceRecord<'static>)) {
        for ip in addresses {
            let rdata = match ip {
                IpAddr::V4(v4) => RData::A(A { address: u32::from(*v4) }),
                IpAddr::V6(v6) => RData::AAAA(AAAA { address: u128::from(*v6) }),
            };
            each(
                ResourceRecord::new(self.host().into_owned(), CLASS::IN, HOST_TTL, rdata)
                    .with_cache_flush(true),
            );
        }
    }
}

/// The records of one response: answers, and additional records that are not answers already.
struct Answer<'a> {
    answers: Vec<ResourceRecord<'a>>,
    extras: Vec<ResourceRecord<'a>>,
}

impl<'a> Answer<'a> {
    fn new() -> Self {
        Answer { answers: Vec::new(), extras: Vec::new() }
    }

    fn answer(&mut self, rr: ResourceRecord<'a>) {
        self.extras.retain(|e| *e != rr);
        if !self.answers.contains(&rr) {
            self.answers.push(rr);
        }
    }

    fn extra(&mut self, rr: ResourceRecord<'a>) {
        if !self.answers.contains(&rr) && !self.extras.contains(&rr) {
            self.extras.push(rr);
        }
    }

    /// The response as bytes, every TTL replaced by `ttl` if given (a goodbye's 0, a legacy
    /// querier's cap), in reply to `query`'s id and questions if it is a legacy one.
    fn packet(mut self, ttl: Option<u32>, legacy: Option<&Packet<'_>>) -> Option<Vec<u8>> {
        if self.answers.is_empty() {
            return None;
        }
        let mut packet = Packet::new_reply(legacy.map_or(0, Packet::id));
        packet.set_flags(PacketFlag::AUTHORITATIVE_ANSWER);
        for rr in self.answers.iter_mut().chain(self.extras.iter_mut()) {
            if let Some(ttl) = ttl {
                rr.ttl = rr.ttl.min(ttl);
            }
            if legacy.is_some() {
                // A legacy querier is no mDNS cache: no cache-flush bit (RFC 6762 §6.7).
                rr.cache_flush = false;
            }
        }
        if let Some(query) = legacy {
            packet.questions = query.questions.clone();
        }
        packet.answers = self.answers;
        packet.additional_records = self.extras;
        packet.build_bytes_vec_compressed().ok()
    }
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
        let Ok(packet) = Packet::parse(datagram) else { return false };
        if packet.has_flags(PacketFlag::RESPONSE) {
            // Nothing of others' is kept; a response only matters while the name is not ours:
            // a record of that name that is not one we would give is someone else's.
            let Ok(instance) = self.records.instance() else { return false };
            let (srv, txt) = (self.records.srv(), self.records.txt());
            let theirs = |rr: &ResourceRecord<'_>| {
                rr.name == instance && rr.rdata != srv.rdata && rr.rdata != txt.rdata
            };
            return probing && packet.answers.iter().chain(&packet.additional_records).any(theirs);
        }
        if probing {
            return false;
        }
        let mut answer = Answer::new();
        for question in &packet.questions {
            self.records.answer(question, &addresses, &mut answer);
        }
        if answer.answers.is_empty() || !self.rate.allow() {
            return false;
        }
        // A legacy querier (not from port 5353) is answered alone; anyone else on the link,
        // by multicast, even when it asked for unicast (RFC 6762 §5.4 allows it): responders
        // on one host share port 5353, and the kernel hands a unicast datagram to only one of
        // them, which need not be the prober asking whether a name is free.
        let legacy = from.port() != PORT;
        let ttl = legacy.then_some(LEGACY_TTL);
        let Some(bytes) = answer.packet(ttl, legacy.then_some(&packet)) else { return false };
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
        self.on_each_interface(|addresses| {
            let mut answer = Answer::new();
            self.records.all(addresses, &mut answer);
            answer.packet(ttl, None)
        })
        .await;
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

    fn records() -> Records {
        Records {
            instance: "lab pi".into(),
            host: "raspberrypi.local".into(),
            port: 50051,
            txt: vec!["txtvers=1".into(), "tls=0".into()],
        }
    }

    fn ask(records: &Records, name: &str, qtype: QTYPE) -> Answer<'static> {
        let mut answer = Answer::new();
        let question = Question::new(Name::new_unchecked(name).into_owned(), qtype, CLASS::IN.into(), false);
        let addresses = [IpAddr::from([10, 77, 0, 1])];
        records.answer(&question, &addresses, &mut answer);
        Answer {
            answers: answer.answers.into_iter().map(ResourceRecord::into_owned).collect(),
            extras: answer.extras.into_iter().map(ResourceRecord::into_owned).collect(),
        }
    }

    #[test]
    fn a_browse_gets_the_pointer_and_everything_it_leads_to() {
        let records = records();
        let browse = ask(&records, "_smbus-proxy._tcp.local", QTYPE::TYPE(TYPE::PTR));
        assert_eq!(browse.answers.len(), 1);
        let RData::PTR(PTR(target)) = &browse.answers[0].rdata else { panic!() };
        assert_eq!(target.get_labels()[0].to_string(), "lab pi", "one label, space and all");
        let kinds: Vec<TYPE> = browse.extras.iter().map(|rr| rr.rdata.type_code()).collect();
        assert_eq!(kinds, [TYPE::SRV, TYPE::TXT, TYPE::A]);
        let bytes = browse.packet(None, None).unwrap();
        let parsed = Packet::parse(&bytes).unwrap();
        assert!(parsed.has_flags(PacketFlag::RESPONSE | PacketFlag::AUTHORITATIVE_ANSWER));
        assert!(ask(&records, "_other._tcp.local", QTYPE::ANY).answers.is_empty());
        let host = ask(&records, "RaspberryPi.local", QTYPE::TYPE(TYPE::A));
        assert_eq!(host.answers.len(), 1, "names match in any case");
    }

    #[test]
    fn a_goodbye_and_a_legacy_answer_change_the_ttls() {
        let records = records();
        let mut answer = Answer::new();
        records.all(&[IpAddr::from([10, 77, 0, 1])], &mut answer);
        let bytes = answer.packet(Some(0), None).unwrap();
        let goodbye = Packet::parse(&bytes).unwrap();
        assert_eq!(goodbye.answers.len(), 4);
        assert!(goodbye.answers.iter().all(|rr| rr.ttl == 0));
        let mut query = Packet::new_query(0x1234);
        query.questions.push(Question::new(
            Name::new_unchecked("raspberrypi.local"),
            TYPE::A.into(),
            CLASS::IN.into(),
            false,
        ));
        let legacy = ask(&records, "raspberrypi.local", QTYPE::TYPE(TYPE::A))
            .packet(Some(LEGACY_TTL), Some(&query))
            .unwrap();
        let legacy = Packet::parse(&legacy).unwrap();
        assert_eq!((legacy.id(), legacy.questions.len()), (0x1234, 1));
        assert!(legacy.answers.iter().all(|rr| rr.ttl <= LEGACY_TTL && !rr.cache_flush));
    }

    #[test]
    fn the_rate_of_answers_is_bounded() {
        let mut rate = Rate { tokens: ANSWERS_PER_SECOND, at: Instant::now() };
        let allowed = (0..1000).filter(|_| rate.allow()).count();
        assert!(allowed <= ANSWERS_PER_SECOND as usize + 1, "{allowed}");
    }
}
