//! Network lists given on the command line or in variables (`LB_STATUS_ALLOW=127.0.0.1/32,...`):
//! checked here so a typo is named before nginx refuses the whole file.

use std::net::IpAddr;

use crate::FleetError;

/// Parses a comma-separated list of addresses or CIDR networks; `variable` names the list in
/// the error. An empty string is an empty list.
pub fn parse_networks(variable: &str, list: &str) -> Result<Vec<String>, FleetError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|entry| {
            let (address, prefix) = match entry.split_once('/') {
                Some((a, p)) => (a, Some(p)),
                None => (entry, None),
            };
            let invalid = |why: &str| FleetError::Invalid {
                what: variable.to_owned(),
                why: format!("`{entry}` {why}"),
            };
            let ip: IpAddr = address
                .parse()
                .map_err(|_| invalid("is not an IP address or CIDR network (e.g. 10.0.0.0/8)"))?;
            if let Some(prefix) = prefix {
                let bits: u8 = prefix
                    .parse()
                    .map_err(|_| invalid("has a prefix length that is not a number"))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if bits > max {
                    return Err(invalid(&format!("has a prefix longer than {max} bits")));
                }
            }
            Ok(entry.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_addresses_and_networks() {
        assert_eq!(
            parse_networks("X", " 127.0.0.1/32, ::1/128,10.1.2.3 ,").unwrap(),
            ["127.0.0.1/32", "::1/128", "10.1.2.3"]
        );
        assert!(parse_networks("X", "").unwrap().is_empty());
    }

    #[test]
    fn names_the_variable_and_the_bad_entry() {
        let err = parse_networks("LB_STATUS_ALLOW", "10.0.0.0/8,localhost")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("LB_STATUS_ALLOW") && err.contains("`localhost`"),
            "{err}"
        );
        let err = parse_networks("LB_STATUS_ALLOW", "10.0.0.0/33")
            .unwrap_err()
            .to_string();
        assert!(err.contains("32 bits"), "{err}");
    }
}
