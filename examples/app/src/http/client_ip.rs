//! Who the client is: the peer address, or, when the peer is one of `TRUSTED_PROXIES` and
//! `LOAD_BALANCER_ENABLED` is on, the address its `X-Forwarded-For` names. Rate limits and
//! the admin network check key on it, so a client cannot pick its own identity by sending
//! the header itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request};
use ipnet::IpNet;

const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Resolves the client address of requests.
#[derive(Clone, Debug)]
pub struct ClientIps {
    trusted: Arc<[IpNet]>,
    believe_forwarded: bool,
}

impl ClientIps {
    /// Believes `X-Forwarded-For` from `trusted` peers when `believe_forwarded`.
    pub fn new(trusted: &[IpNet], believe_forwarded: bool) -> Self {
        Self {
            trusted: trusted.into(),
            believe_forwarded,
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request, `None` when the server gave no peer address.
    pub fn of<B>(&self, request: &Request<B>) -> Option<IpAddr> {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()?
            .0
            .ip();
        Some(self.resolve(peer, request.headers()))
    }

    /// The client behind `peer`: walking `X-Forwarded-For` from the right (the hop nearest
    /// to us), the first address that is not a trusted proxy. A malformed entry stops the
    /// walk at the last trusted hop: what lies beyond it cannot be believed.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.believe_forwarded || !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else {
                return client;
            };
            client = canonical(ip);
            if !self.is_trusted(client) {
                return client;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, from dual-stack sockets) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::config::parse_networks;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(X_FORWARDED_FOR, HeaderValue::from_str(xff).expect("header"));
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let ips = ClientIps::new(
            &parse_networks("127.0.0.0/8,10.0.0.0/8").expect("nets"),
            true,
        );
        let h = headers("203.0.113.9, 10.1.2.3");
        assert_eq!(ips.resolve(ip("127.0.0.1"), &h), ip("203.0.113.9"));
        assert_eq!(ips.resolve(ip("198.51.100.1"), &h), ip("198.51.100.1"));
        // A client prepending its own entry does not move past the first untrusted hop.
        let h = headers("1.1.1.1, 203.0.113.9");
        assert_eq!(ips.resolve(ip("10.0.0.5"), &h), ip("203.0.113.9"));
        // Garbage stops the walk at the nearest trusted hop.
        let h = headers("not-an-ip, 10.1.2.3");
        assert_eq!(ips.resolve(ip("127.0.0.1"), &h), ip("10.1.2.3"));
        assert_eq!(
            ips.resolve(ip("::ffff:127.0.0.1"), &headers("192.0.2.1")),
            ip("192.0.2.1")
        );
        let off = ClientIps::new(&parse_networks("127.0.0.0/8").expect("nets"), false);
        assert_eq!(off.resolve(ip("127.0.0.1"), &h), ip("127.0.0.1"));
    }
}
