//! Client addresses as the per-address limits see them.

use std::net::{IpAddr, Ipv6Addr};

/// The key of a client's allowance: an IPv4 address as it is; an IPv6 address cut to
/// its /64, because one subscriber usually holds a whole /64 and could otherwise
/// take a new allowance for every address in it. `None` for anything else.
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
    fn ipv6_addresses_share_their_slash_64() {
        let a = address_key("2001:db8:1:2::1").unwrap();
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:ffff:ffff:ffff:ffff").unwrap(), a);
        assert_ne!(address_key("2001:db8:1:3::1").unwrap(), a);
        assert_eq!(address_key(" 203.0.113.7 ").as_deref(), Some("203.0.113.7"));
        assert_eq!(address_key("::ffff:203.0.113.7").as_deref(), Some("203.0.113.7"));
        assert_eq!(address_key("not an address"), None);
        assert_eq!(address_key(""), None);
    }
}
