//! DNS-SD: a server that listens beyond loopback says so on the local network, so that
//! clients find it by name (`smbus-proxy servers`, `mdns://NAME`) instead of by address.
//!
//! mdns-sd answers queries from a thread of its own; nothing else on the machine (Avahi,
//! Bonjour) is needed, and an Avahi that is there keeps working beside it. The record is
//! `smbus_proxy_wire::discovery`'s. A server on loopback only is not announced: nobody else
//! could reach it.

use mdns_sd::{DaemonEvent, IfKind, ServiceDaemon, ServiceInfo};
use smbus_proxy_wire::discovery::{Announcement, SERVICE_TYPE, instance_name};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tracing::{debug, info, warn};

/// How long the goodbye may take when the server stops.
const GOODBYE_WAIT: Duration = Duration::from_secs(1);

/// The announcement, for as long as it lives; dropping it says goodbye, so that browsers
/// forget the server at once instead of when the record's TTL runs out.
pub(crate) struct Announcer {
    daemon: ServiceDaemon,
    fullname: String,
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
        let ip = listen.ip();
        if ip.is_loopback() {
            info!(%listen, "not announced on the network (DNS-SD): the server listens on loopback only");
            return Ok(None);
        }
        let host = host_name();
        let name = name.unwrap_or(&host);
        let fail = |e: mdns_sd::Error| format!("cannot announce {name} (DNS-SD): {e}");
        let daemon = ServiceDaemon::new().map_err(fail)?;
        let (kinds, addresses): (Vec<IfKind>, String) = match ip {
            IpAddr::V4(v4) if v4.is_unspecified() => (vec![IfKind::IPv4], String::new()),
            IpAddr::V6(v6) if v6.is_unspecified() => (vec![IfKind::All], String::new()),
            ip => (vec![IfKind::Addr(ip)], ip.to_string()),
        };
        // Selections apply in order: nothing, then what reaches the server, never loopback.
        daemon.disable_interface(IfKind::All).map_err(fail)?;
        daemon.enable_interface(kinds.clone()).map_err(fail)?;
        daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6]).map_err(fail)?;
        let txt = what.to_txt();
        let mut info = ServiceInfo::new(
            SERVICE_TYPE,
            name,
            &format!("{host}.local."),
            addresses.as_str(),
            listen.port(),
            &txt[..],
        )
        .map_err(fail)?;
        if ip.is_unspecified() {
            // The addresses of the interfaces, kept current as they come and go.
            info = info.enable_addr_auto();
        }
        info.set_interfaces(kinds);
        let fullname = info.get_fullname().to_owned();
        let events = daemon.monitor().map_err(fail)?;
        daemon.register(info).map_err(fail)?;
        let logged = name.to_owned();
        // The daemon's news, logged until it shuts down and drops the channel.
        std::thread::Builder::new()
            .name("announce".into())
            .spawn(move || {
                let name = logged;
                for event in events {
                    match event {
                        DaemonEvent::NameChange(change) => {
                            let new = instance_name(&change.new_name).unwrap_or(change.new_name);
                            warn!(%name, %new, "another server on the network has this name; announced under the new one (--announce-name chooses)");
                        }
                        DaemonEvent::Error(e) => warn!(%name, "DNS-SD: {e}"),
                        DaemonEvent::Announce(_, interfaces) => debug!(%name, %interfaces, "announced"),
                        _ => {}
                    }
                }
            })
            .map_err(|e| format!("cannot announce {name} (DNS-SD): {e}"))?;
        info!(%name, service = SERVICE_TYPE, record = %what, "announced on the network (DNS-SD)");
        Ok(Some(Announcer { daemon, fullname }))
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            let _ = done.recv_timeout(GOODBYE_WAIT);
        }
        let _ = self.daemon.shutdown();
    }
}

/// This machine's name, first label only (`raspberrypi`, not `raspberrypi.lan`), which
/// names both the service and the host in `.local`.
fn host_name() -> String {
    let full = gethostname::gethostname().to_string_lossy().into_owned();
    let label = full.split('.').next().unwrap_or("").trim();
    if label.is_empty() { "smbus-proxy".to_owned() } else { label.to_owned() }
}
