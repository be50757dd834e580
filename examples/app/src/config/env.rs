//! Reading variables: `NAME`, else `VITE_NAME` (the guide's Vite spelling) for settings;
//! secrets only as `NAME` or from the file named by `NAME_FILE`, never from `VITE_*` (Vite
//! bundles those into public JavaScript). Every error names the variable as it was set.

use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;

use crate::Error;

/// Looks variables up through a function (the process environment, or a map in tests).
pub(crate) struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    /// The value and the spelling it was found under; unset and empty read as absent.
    pub(crate) fn get(&self, name: &str) -> Option<(String, String)> {
        [name.to_owned(), format!("VITE_{name}")]
            .into_iter()
            .find_map(|spelling| {
                let value = (self.lookup)(&spelling)?.trim().to_owned();
                (!value.is_empty()).then_some((spelling, value))
            })
    }

    /// A secret: `NAME`, else the contents of the file `NAME_FILE` names (trailing newline
    /// dropped). Never read from `VITE_NAME`.
    pub(crate) fn secret(&self, name: &str) -> Result<Option<String>, Error> {
        if let Some(value) = (self.lookup)(name).filter(|v| !v.trim().is_empty()) {
            return Ok(Some(value.trim().to_owned()));
        }
        if (self.lookup)(&format!("VITE_{name}")).is_some_and(|v| !v.is_empty()) {
            return Err(Error::config(
                format!("VITE_{name}"),
                None,
                format!(
                    "secrets are never read from VITE_* variables (Vite publishes them in the \
                     browser bundle): set {name} or {name}_FILE instead"
                ),
            ));
        }
        let file_var = format!("{name}_FILE");
        let Some(path) = (self.lookup)(&file_var).filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path.trim()).map_err(|e| {
            Error::config(
                &file_var,
                Some(path.clone()),
                format!("cannot read the file: {e}"),
            )
        })?;
        let secret = text.trim_end_matches(['\r', '\n']).to_owned();
        if secret.is_empty() {
            return Err(Error::config(&file_var, Some(path), "the file is empty"));
        }
        Ok(Some(secret))
    }

    /// Parses the variable with `parse`; `expected` says what a good value looks like.
    pub(crate) fn parsed<T>(
        &self,
        name: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, Error> {
        let Some((spelling, raw)) = self.get(name) else {
            return Ok(None);
        };
        match parse(&raw) {
            Some(v) => Ok(Some(v)),
            None => Err(Error::config(
                spelling,
                Some(raw),
                format!("expected {expected}"),
            )),
        }
    }

    pub(crate) fn number<T: FromStr + PartialOrd + Copy>(
        &self,
        name: &str,
        min: T,
        max: T,
        expected: &str,
    ) -> Result<Option<T>, Error> {
        self.parsed(name, expected, |s| {
            s.parse::<T>().ok().filter(|v| *v >= min && *v <= max)
        })
    }

    /// Milliseconds, as the guide gives its timeouts; between 1 ms and a day.
    pub(crate) fn millis(&self, name: &str) -> Result<Option<Duration>, Error> {
        Ok(self
            .number(
                name,
                1u64,
                86_400_000,
                "milliseconds between 1 and 86400000",
            )?
            .map(Duration::from_millis))
    }

    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, Error> {
        self.parsed(name, "true or false", |s| {
            match s.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Some(true),
                "0" | "false" | "no" | "off" => Some(false),
                _ => None,
            }
        })
    }

    /// A comma-separated list of CIDRs (`10.0.0.0/8,::1/128`); a bare address is one host.
    pub(crate) fn networks(&self, name: &str) -> Result<Option<Vec<IpNet>>, Error> {
        self.parsed(
            name,
            "comma-separated CIDRs such as 10.0.0.0/8,127.0.0.1/32",
            parse_networks,
        )
    }

    /// A comma-separated list of items, each parsed by `parse`; empty lists are refused.
    pub(crate) fn list<T>(
        &self,
        name: &str,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<Vec<T>>, Error> {
        self.parsed(name, expected, |s| {
            let items: Option<Vec<T>> = s
                .split(',')
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .map(&parse)
                .collect();
            items.filter(|i| !i.is_empty())
        })
    }
}

/// `10.0.0.0/8, 192.168.1.7` -> networks (a bare address is a /32 or /128).
pub(crate) fn parse_networks(text: &str) -> Option<Vec<IpNet>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .ok()
                .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        })
        .collect()
}
