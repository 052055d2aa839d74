//! Who asks, and under which name: the client's address (through a
//! trusted proxy), the Host it asked for and the Origin of its forms,
//! checked against `[serve]`'s settings. An unknown Host is refused, so a
//! name an attacker points at this machine (DNS rebinding) cannot drive the page.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request},
    http::{header, HeaderMap},
};

use crate::config::ServeSettings;

/// The Host names the page answers on loopback, with any port.
const LOOPBACK_HOSTS: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// The client's address, as the page sees it (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The names and origin the page is served under.
pub struct Site {
    /// `[serve] public_origin`.
    public_origin: Option<String>,
    /// `[serve] allowed_hosts`.
    allowed_hosts: Vec<String>,
    /// `[serve] trusted_proxies`.
    trusted_proxies: Vec<IpAddr>,
}

impl Site {
    /// The site of these settings.
    pub fn new(settings: &ServeSettings) -> Self {
        Self {
            public_origin: settings.public_origin.clone(),
            allowed_hosts: settings.allowed_hosts.clone(),
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// Whether cookies are `Secure`: the public origin is https.
    pub fn secure(&self) -> bool {
        self.public_origin
            .as_deref()
            .is_some_and(|o| o.starts_with("https://"))
    }

    /// The request's Host, lowercase, when the page is served under it:
    /// the public origin's, an allowed one, or (without a public origin)
    /// a loopback name.
    pub fn host<'a>(&self, headers: &'a HeaderMap) -> Result<String, Option<&'a str>> {
        let sent = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty());
        let Some(host) = sent.map(str::to_ascii_lowercase) else {
            return Err(sent);
        };
        let name = match host.rsplit_once(':') {
            Some((name, port))
                if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') =>
            {
                name
            }
            _ => host.as_str(),
        };
        let allowed = match &self.public_origin {
            Some(origin) => origin.split_once("://").is_some_and(|(_, a)| a == host),
            None => LOOPBACK_HOSTS.contains(&name),
        } || self
            .allowed_hosts
            .iter()
            .any(|a| *a == host || ((!a.contains(':') || a.ends_with(']')) && *a == name));
        if allowed {
            Ok(host)
        } else {
            Err(sent)
        }
    }

    /// Whether a form's `Origin` (when the browser sent one) is the page's
    /// own: under the public origin's host, exactly the public origin (no
    /// http page of it can post); under another allowed Host (a tunnel to
    /// loopback, say), that Host's; without a public origin, `http://` and
    /// the Host.
    pub fn same_origin(&self, headers: &HeaderMap, host: &str) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = origin.to_ascii_lowercase();
        match &self.public_origin {
            Some(public) if public.split_once("://").is_some_and(|(_, a)| a == host) => {
                origin == *public
            }
            // Another name a proxy in front may serve over https.
            Some(_) => origin == format!("http://{host}") || origin == format!("https://{host}"),
            None => origin == format!("http://{host}"),
        }
    }

    /// The client's address: the peer's, or, when the peer is a trusted
    /// proxy, the last address its `X-Forwarded-For` adds that is not one.
    pub fn client(&self, request: &Request) -> ClientAddr {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
        if !self.trusted_proxies.contains(&peer) {
            return ClientAddr(peer);
        }
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        let client = forwarded
            .iter()
            .rev()
            .map_while(|a| a.parse::<IpAddr>().ok())
            .find(|a| !self.trusted_proxies.contains(a));
        ClientAddr(client.unwrap_or(peer))
    }
}
