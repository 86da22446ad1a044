//! `smbus-proxy servers`: the servers that announce themselves on the local network, as a
//! table to pick one from. `mdns://NAME` then connects to it.

use smbus_proxy_client::Report;
use smbus_proxy_client::discover;
use std::process::ExitCode;
use std::time::Duration;

pub fn run(wait: Duration) -> ExitCode {
    let found = match discover::browse(wait) {
        Ok(found) => found,
        Err(e) => return super::fail(&format!("Error: {}", Report(&e))),
    };
    if found.is_empty() {
        eprintln!(
            "No smbus-proxy server answered within {} ms. A server announces itself when it listens \
             beyond loopback (serve --listen 0.0.0.0:50051) without --no-announce, and only this \
             machine's local networks hear it.",
            wait.as_millis()
        );
        return ExitCode::FAILURE;
    }
    print!("{}", render(&found));
    ExitCode::SUCCESS
}

fn render(found: &[discover::Found]) -> String {
    let rows: Vec<[String; 6]> = found
        .iter()
        .map(|f| {
            let a = &f.announcement;
            let addresses: Vec<String> = f.addresses.iter().map(ToString::to_string).collect();
            let buses: Vec<String> = a.buses.iter().map(ToString::to_string).collect();
            [
                f.name.clone(),
                addresses.join(","),
                f.port.to_string(),
                buses.join(","),
                a.security(),
                a.version.clone(),
            ]
        })
        .collect();
    let header = ["NAME", "ADDRESS", "PORT", "BUSES", "SECURITY", "VERSION"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = row.iter().zip(widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out += cells.join("  ").trim_end();
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use smbus_proxy_wire::discovery::Announcement;

    #[test]
    fn a_table_of_what_answered() {
        let pi = discover::Found {
            name: "lab pi".into(),
            host: "raspberrypi.local".into(),
            addresses: vec!["10.0.0.7".parse().unwrap(), "fd00::7".parse().unwrap()],
            port: 50051,
            announcement: Announcement {
                version: "0.1.0".into(),
                buses: vec![1, 3],
                tls: true,
                token: true,
                client_cert: false,
            },
        };
        assert_eq!(
            render(&[pi]),
            "NAME    ADDRESS           PORT   BUSES  SECURITY   VERSION\n\
             lab pi  10.0.0.7,fd00::7  50051  1,3    tls+token  0.1.0\n"
        );
    }
}
