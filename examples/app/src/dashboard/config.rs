//! The dashboard's one setting: where the autoscaler answers.

use url::Url;

use crate::Error;

/// Where the autoscaler runs when nothing says otherwise (the guide's port 3002).
pub const DEFAULT_AUTOSCALER_URL: &str = "http://127.0.0.1:3002";

/// What the dashboard reads besides this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardConfig {
    /// `AUTOSCALER_URL` (default `http://127.0.0.1:3002`; `off` for none): its `/status`
    /// is shown on the dashboard when it answers.
    pub autoscaler_url: Option<Url>,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            autoscaler_url: Url::parse(DEFAULT_AUTOSCALER_URL).ok(),
        }
    }
}

impl DashboardConfig {
    /// Reads `AUTOSCALER_URL` (or `VITE_AUTOSCALER_URL`) through `lookup`.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let Some((name, raw)) = ["AUTOSCALER_URL", "VITE_AUTOSCALER_URL"]
            .into_iter()
            .find_map(|name| {
                let value = lookup(name)?.trim().to_owned();
                (!value.is_empty()).then_some((name, value))
            })
        else {
            return Ok(Self::default());
        };
        if matches!(raw.to_ascii_lowercase().as_str(), "off" | "none" | "false") {
            return Ok(Self {
                autoscaler_url: None,
            });
        }
        match Url::parse(&raw) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(Self {
                autoscaler_url: Some(url),
            }),
            _ => Err(Error::config(
                name,
                Some(raw),
                "expected the autoscaler's base URL, such as http://127.0.0.1:3002, or off",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> Result<DashboardConfig, Error> {
        DashboardConfig::from_lookup(&|name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_autoscaler_defaults_to_the_guides_port_and_can_be_turned_off() {
        let default = read(&[]).expect("default");
        assert_eq!(
            default.autoscaler_url.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:3002/")
        );
        assert_eq!(
            read(&[("AUTOSCALER_URL", "off")])
                .expect("off")
                .autoscaler_url,
            None
        );
        let set = read(&[("VITE_AUTOSCALER_URL", "http://scaler:9000")]).expect("set");
        assert_eq!(
            set.autoscaler_url.as_ref().map(Url::as_str),
            Some("http://scaler:9000/")
        );
    }

    #[test]
    fn a_bad_url_names_the_variable() {
        let error = read(&[("AUTOSCALER_URL", "ftp://x")]).expect_err("refused");
        assert!(error.to_string().contains("AUTOSCALER_URL"), "{error}");
        assert!(read(&[("AUTOSCALER_URL", "localhost:3002")]).is_err());
    }
}
