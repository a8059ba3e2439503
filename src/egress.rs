//! Where the server may connect on a customer's behalf (webhooks, shop pages): globally
//! routable addresses only — an allow-list, not a deny-list — checked on the address actually
//! connected to (a resolver hook on the client, so a name cannot resolve to a public address
//! for the check and a private one for the connection), and no redirects followed by the
//! client (a caller that follows one checks the next address again).
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Whether `ip` is a globally routable unicast address (RFC 6890 special-purpose ranges and
/// everything outside IPv6 global unicast refused; IPv4-mapped, NAT64 and 6to4 addresses are
/// judged by the IPv4 address they carry).
pub fn globally_routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => routable_v4(v4),
        IpAddr::V6(v6) => routable_v6(v6),
    }
}

fn routable_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0                                   // "this network"
        || a == 10                                         // private
        || (a == 100 && (64..128).contains(&b))            // carrier-grade NAT 100.64/10
        || a == 127                                        // loopback
        || (a == 169 && b == 254)                          // link-local
        || (a == 172 && (16..32).contains(&b))             // private
        || (a == 192 && b == 0 && c == 0)                  // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                  // documentation
        || (a == 192 && b == 88 && c == 99)                // 6to4 relay anycast
        || (a == 192 && b == 168)                          // private
        || (a == 198 && (18..20).contains(&b))             // benchmarking 198.18/15
        || (a == 198 && b == 51 && c == 100)               // documentation
        || (a == 203 && b == 0 && c == 113)                // documentation
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
        || ip == Ipv4Addr::new(168, 63, 129, 16); // Azure's host service (WireServer)
    !special
}

fn routable_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return routable_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96 and the local-use 64:ff9b:1::/48): the IPv4 address it reaches.
    if s[0] == 0x64 && s[1] == 0xff9b {
        if s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0 {
            let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            return routable_v4(v4);
        }
        return false;
    }
    // 6to4 (2002::/16) carries an IPv4 address in its next 32 bits.
    if s[0] == 0x2002 {
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return routable_v4(v4);
    }
    // Global unicast 2000::/3 only, less the documentation (2001:db8::/32), IETF protocol
    // assignments (2001::/23: Teredo, ORCHID, benchmarking …) and 3fff::/20 documentation.
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] == 0x0db8)
        && !(s[0] == 0x2001 && s[1] < 0x0200)
        && !(s[0] == 0x3fff && s[1] < 0x1000)
}

/// Which addresses a client may connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// Globally routable addresses only (production).
    Public,
    /// Any address (`API_WEBHOOK_PRIVATE_OK`, `PRODUCT_FETCH_PRIVATE_OK`: tests and private
    /// deployments).
    Anywhere,
    /// Public addresses and these exact ones (tests: a local server stands in for a public
    /// one while its neighbour stays private).
    PublicAnd(Vec<IpAddr>),
}

impl Reach {
    pub fn private_ok(yes: bool) -> Self {
        if yes {
            Reach::Anywhere
        } else {
            Reach::Public
        }
    }

    fn admits(&self, ip: IpAddr) -> bool {
        match self {
            Reach::Anywhere => true,
            Reach::Public => globally_routable(ip),
            Reach::PublicAnd(also) => globally_routable(ip) || also.contains(&ip),
        }
    }
}

/// The addresses a name resolved to that may be connected to, or why none may.
pub fn allowed(
    host: &str,
    addrs: Vec<SocketAddr>,
    reach: &Reach,
) -> Result<Vec<SocketAddr>, String> {
    if addrs.is_empty() {
        return Err(format!("'{host}' does not resolve"));
    }
    // Every address must be admitted: a name with one private address is refused whole (the
    // client could pick it, or the owner could rotate the public one away).
    if addrs.iter().any(|a| !reach.admits(a.ip())) {
        return Err(format!(
            "'{host}' is a local, private or reserved address: only public addresses are reached"
        ));
    }
    Ok(addrs)
}

/// Checks a URL's host as a connection would: an address literal directly, a name by
/// resolving it.
pub async fn check_url(url: &reqwest::Url, reach: &Reach) -> Result<(), String> {
    let host = url
        .host_str()
        .unwrap_or("")
        .trim_matches(|c| c == '[' || c == ']');
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| format!("'{host}' does not resolve"))?
        .collect();
    allowed(host, addrs, reach).map(|_| ())
}

/// The resolver hook: names resolve only to addresses that pass [`allowed`].
struct CheckedResolver {
    reach: Reach,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let reach = self.reach.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let ok = allowed(&host, addrs, &reach)?;
            Ok(Box::new(ok.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for customers' endpoints: the checked resolver, no redirects (a 3xx is a
/// failed delivery, or followed by the caller after checking it), no proxy from the
/// environment (it would resolve the name itself), a short timeout.
pub fn client(reach: &Reach) -> Result<reqwest::Client, String> {
    builder(reach)
        .build()
        .map_err(|e| format!("the outbound client cannot be built: {e}"))
}

/// [`client`]'s settings, for a caller that adds its own (a user agent).
pub fn builder(reach: &Reach) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(CheckedResolver {
            reach: reach.clone(),
        }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_globally_routable_addresses_pass() {
        let refused = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:100.64.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "2002:a00:1::1",
            "2001:db8::1",
            "2001::1",
            "ff02::1",
            "168.63.129.16",
        ];
        for ip in refused {
            assert!(
                !globally_routable(ip.parse().unwrap()),
                "{ip} must be refused"
            );
        }
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:2800:220:1::1",
            "::ffff:93.184.215.14",
            "64:ff9b::808:808",
        ] {
            assert!(globally_routable(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn a_name_with_any_private_address_is_refused() {
        let public: SocketAddr = "93.184.215.14:443".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:10.0.0.1]:443".parse().unwrap();
        let public_only = Reach::Public;
        assert!(allowed("hooks.example", vec![public], &public_only).is_ok());
        assert!(allowed("hooks.example", vec![public, mapped], &public_only).is_err());
        assert!(allowed("hooks.example", vec![mapped], &public_only).is_err());
        assert!(allowed("hooks.example", vec![], &public_only).is_err());
        assert!(
            allowed("hooks.example", vec![mapped], &Reach::Anywhere).is_ok(),
            "the opt-in for tests"
        );
        let one = Reach::PublicAnd(vec!["127.0.0.1".parse().unwrap()]);
        let here: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let neighbour: SocketAddr = "127.0.0.2:80".parse().unwrap();
        assert!(allowed("shop.test", vec![here, public], &one).is_ok());
        assert!(allowed("shop.test", vec![neighbour], &one).is_err());
    }
}
