//! Servers on the local network, found by the DNS-SD announcements `serve` makes when it
//! listens beyond loopback: [`browse`] lists them (`smbus-proxy servers`), and an address of
//! the form `mdns://NAME` connects to the one announced as NAME.
//!
//! mdns-sd asks and listens from a thread of its own; no system daemon is needed. A search
//! runs for as long as it is given, or until the server it looks for has answered.

use crate::error::{Error, Result};
use mdns_sd::{ServiceDaemon, ServiceEvent};
use smbus_proxy_wire::discovery::{Announcement, SERVICE_TYPE, TxtError, instance_name};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How long a connection to `mdns://NAME` waits for NAME to answer. Servers answer a query
/// within a few hundred milliseconds; the rest is room for a busy network.
pub const FIND_WAIT: Duration = Duration::from_secs(3);

/// A server that answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// Its instance name: what goes after `mdns://`.
    pub name: String,
    /// The host it runs on, as it announced it (`raspberrypi.local`): the name an `https://`
    /// server's certificate is checked against.
    pub host: String,
    /// Its addresses, IPv4 first.
    pub addresses: Vec<IpAddr>,
    /// The port it listens on.
    pub port: u16,
    /// What its TXT record says: version, buses, and what a client must bring.
    pub announcement: Announcement,
}

impl Found {
    /// The URL to connect to: `https://` if it speaks TLS, and its first address a URL can
    /// hold (an IPv6 link-local address needs a zone, which URLs cannot carry).
    pub fn url(&self) -> Option<String> {
        let scheme = if self.announcement.tls { "https" } else { "http" };
        self.addresses.iter().find(|ip| !is_link_local_v6(ip)).map(|ip| match ip {
            IpAddr::V4(v4) => format!("{scheme}://{v4}:{}", self.port),
            IpAddr::V6(v6) => format!("{scheme}://[{v6}]:{}", self.port),
        })
    }
}

/// Every server that answers within `wait`, by name.
pub fn browse(wait: Duration) -> Result<Vec<Found>> {
    let mut found = BTreeMap::new();
    search(wait, |_| false, &mut found)?;
    Ok(found.into_values().filter_map(|r| r.ok()).collect())
}

/// The server announced as `name` (in any case), as soon as it answers, or an error that
/// says who did answer.
pub(crate) fn find(name: &str, wait: Duration) -> Result<Found> {
    let address = format!("mdns://{name}");
    let mut answered = BTreeMap::new();
    let wanted = |n: &str| n.eq_ignore_ascii_case(name);
    search(wait, wanted, &mut answered)?;
    if let Some((_, record)) = answered.iter().find(|(n, _)| wanted(n)) {
        return record.clone().map_err(|e| {
            Error::connect(&address, Some("its DNS-SD record cannot be used".into()), Some(e.into()))
        });
    }
    let others: Vec<&str> = answered.keys().map(String::as_str).collect();
    let who = if others.is_empty() {
        "no smbus-proxy server answered at all (a server announces itself only when it listens beyond loopback)"
            .to_owned()
    } else {
        format!("those that did: {}", others.join(", "))
    };
    Err(Error::connect(
        &address,
        Some(format!(
            "no smbus-proxy server named `{name}` answered on this machine's networks within {} s; {who}",
            wait.as_secs_f32()
        )),
        None,
    ))
}

/// Asks for `_smbus-proxy._tcp` and gathers the answers by name until `wait` is over or
/// `enough` says the name just resolved is all that was wanted. A record whose TXT cannot
/// be read is kept as the reason.
fn search(
    wait: Duration,
    enough: impl Fn(&str) -> bool,
    found: &mut BTreeMap<String, std::result::Result<Found, TxtError>>,
) -> Result<()> {
    let failed = |e: mdns_sd::Error| {
        Error::connect("mdns://", Some("cannot search the network (DNS-SD)".into()), Some(e.into()))
    };
    let daemon = ServiceDaemon::new().map_err(failed)?;
    let events = daemon.browse(SERVICE_TYPE).map_err(failed)?;
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(event) = events.recv_timeout(left) else { break };
        let ServiceEvent::ServiceResolved(service) = event else { continue };
        let Some(name) = instance_name(&service.fullname) else { continue };
        let props = service.get_properties();
        let record = Announcement::from_txt(|key| props.get_property_val_str(key)).map(|announcement| {
            let mut addresses: Vec<IpAddr> =
                service.get_addresses().iter().map(|ip| ip.to_ip_addr()).collect();
            addresses.sort_by_key(|ip| (ip.is_ipv6(), is_link_local_v6(ip), *ip));
            let host = service.get_hostname().trim_end_matches('.').to_owned();
            Found { name: name.clone(), host, addresses, port: service.get_port(), announcement }
        });
        let done = enough(&name);
        found.insert(name, record);
        if done {
            break;
        }
    }
    // The daemon's thread ends with it; what it still had to say is of no use now.
    let _ = daemon.shutdown();
    Ok(())
}

fn is_link_local_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_follows_the_record() {
        let mut found = Found {
            name: "pi".into(),
            host: "raspberrypi.local".into(),
            addresses: vec!["fe80::1".parse().unwrap(), "fd00::7".parse().unwrap()],
            port: 50052,
            announcement: Announcement { tls: true, ..Announcement::default() },
        };
        // A link-local address needs a zone a URL cannot hold: the next one serves.
        assert_eq!(found.url().as_deref(), Some("https://[fd00::7]:50052"));
        found.addresses.insert(0, "10.0.0.7".parse().unwrap());
        found.announcement.tls = false;
        assert_eq!(found.url().as_deref(), Some("http://10.0.0.7:50052"));
        found.addresses = vec!["fe80::1".parse().unwrap()];
        assert_eq!(found.url(), None);
    }
}
