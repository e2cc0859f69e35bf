//! Client addresses as rate-limit keys.
//!
//! One subscriber usually holds a whole IPv6 /64 (often far more), so counting each
//! IPv6 address on its own would give one person 2^64 fresh budgets. IPv6 addresses
//! are keyed by their /64; IPv4 addresses by themselves.

use std::net::{IpAddr, Ipv6Addr};

/// The key an address's requests are counted under: `203.0.113.7` as is,
/// `2001:db8:1:2:aaaa::1` → `2001:db8:1:2::/64`, `::ffff:203.0.113.7` → `203.0.113.7`.
/// Anything that is not an IP address → `None`.
pub fn address_key(ip: &str) -> Option<String> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => Some(v4.to_string()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => Some(v4.to_string()),
            None => {
                let s = v6.segments();
                Some(format!("{}/64", Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0)))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_kept_as_is() {
        assert_eq!(address_key("203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(address_key(" 198.51.100.1 ").as_deref(), Some("198.51.100.1"));
        assert_ne!(address_key("203.0.113.7"), address_key("203.0.113.8"));
    }

    #[test]
    fn ipv6_is_cut_to_its_64() {
        assert_eq!(address_key("2001:db8:1:2::1").as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(address_key("2001:0db8:0001:0002:aaaa:bbbb:cccc:dddd").as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(address_key("2001:DB8:1:2:FFFF:FFFF:FFFF:FFFF").as_deref(), Some("2001:db8:1:2::/64"));
        assert_eq!(address_key("2001:db8::").as_deref(), Some("2001:db8::/64"));
        assert_eq!(address_key("::1").as_deref(), Some("::/64"));
        assert_ne!(address_key("2001:db8:1:2::1"), address_key("2001:db8:1:3::1"), "another /64 is another key");
    }

    #[test]
    fn ipv4_mapped_ipv6_is_ipv4() {
        assert_eq!(address_key("::ffff:203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(address_key("::ffff:cb00:7107").as_deref(), Some("203.0.113.7"));
    }

    #[test]
    fn garbage_is_none() {
        for bad in ["", "unknown", "203.0.113", "203.0.113.256", "2001:db8::1::2", "[2001:db8::1]", "2001:db8::1%eth0"]
        {
            assert_eq!(address_key(bad), None, "{bad:?}");
        }
        assert_eq!(address_key("203.0.113.7:443"), None, "a port is not part of an address");
        assert_eq!(address_key(&"1".repeat(1000)), None);
    }
}
