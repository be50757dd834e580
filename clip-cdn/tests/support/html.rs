//! Reading the HTML the crate writes the way a browser would: attributes unescaped,
//! `srcset` split into candidates.

use std::collections::HashMap;

/// Attributes of the first element named `tag` in `html`.
pub fn element(html: &str, tag: &str) -> Option<HashMap<String, String>> {
    let dom = tl::parse(html, tl::ParserOptions::default()).ok()?;
    let node = dom
        .nodes()
        .iter()
        .find(|n| n.as_tag().is_some_and(|t| t.name().as_utf8_str() == tag))?;
    Some(
        node.as_tag()?
            .attributes()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    v.map(|v| html_unescape(&v)).unwrap_or_default(),
                )
            })
            .collect(),
    )
}

pub fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// `(url, width descriptor)` of each candidate of a `srcset` of width descriptors.
pub fn srcset(srcset: &str) -> Vec<(String, u32)> {
    srcset
        .split(", ")
        .map(|c| {
            let (url, descriptor) = c.rsplit_once(' ').expect("url and descriptor");
            let width = descriptor
                .strip_suffix('w')
                .and_then(|w| w.parse().ok())
                .unwrap_or_else(|| panic!("not a width descriptor: {c}"));
            (url.to_owned(), width)
        })
        .collect()
}
