//! The asset manifest: path -> content hash (and whether the asset is critical). The hash
//! goes into every URL (`?v=`), so a changed file gets a new URL: that is how invalidation
//! reaches browsers and CDN edges without purging them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// One asset of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Content hash (any string that changes when the content does).
    pub hash: String,
    /// Critical assets are preloaded and rendered with `fetchpriority="high"`.
    #[serde(default)]
    pub critical: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum EntryJson {
    Hash(String),
    Full(ManifestEntry),
}

/// Asset path -> [`ManifestEntry`]. Paths are stored root-relative (`/images/a.jpg`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Manifest {
    assets: BTreeMap<String, ManifestEntry>,
}

/// `images/a.jpg`, `/images/a.jpg` and `/images/a.jpg?x` name the same asset.
/// Leading slashes (and backslashes, which browsers read as slashes) collapse into one:
/// a root-relative `//evil.example/x.js` would otherwise load from another host.
pub(crate) fn normalize(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    format!("/{}", path.trim_start_matches(['/', '\\']))
}

impl Manifest {
    /// An empty manifest.
    pub fn new() -> Manifest {
        Manifest::default()
    }

    /// Adds or replaces an asset (builder style).
    pub fn with(mut self, path: &str, hash: &str, critical: bool) -> Manifest {
        self.insert(path, hash, critical);
        self
    }

    /// Adds or replaces an asset.
    pub fn insert(&mut self, path: &str, hash: &str, critical: bool) {
        self.assets.insert(
            normalize(path),
            ManifestEntry {
                hash: hash.to_owned(),
                critical,
            },
        );
    }

    /// Parses `{"/images/a.jpg": "3f2a9c", "/app.css": {"hash": "77b1", "critical": true}}`.
    pub fn from_json(json: &str) -> Result<Manifest> {
        let raw: BTreeMap<String, EntryJson> =
            serde_json::from_str(json).map_err(|e| Error::Config {
                variable: "manifest",
                value: json.chars().take(80).collect(),
                reason: format!("not a manifest object: {e}"),
            })?;
        let assets = raw
            .into_iter()
            .map(|(path, e)| {
                let entry = match e {
                    EntryJson::Hash(hash) => ManifestEntry {
                        hash,
                        critical: false,
                    },
                    EntryJson::Full(entry) => entry,
                };
                (normalize(&path), entry)
            })
            .collect();
        Ok(Manifest { assets })
    }

    /// Hashes every file under `dir` (SHA-256, first 12 hex digits); none is critical.
    /// Symlinks to files are followed; symlinks to directories are not walked.
    pub fn from_dir(dir: &Path) -> Result<Manifest> {
        let mut manifest = Manifest::new();
        let mut stack = vec![dir.to_path_buf()];
        let io = |e: std::io::Error, p: &Path| Error::Config {
            variable: "CDN_LOCAL_DIR",
            value: p.display().to_string(),
            reason: format!("cannot read it: {e}"),
        };
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(|e| io(e, &d))? {
                let entry = entry.map_err(|e| io(e, &d))?;
                let path = entry.path();
                // The entry's own type, not its target's: a symlink to a directory (to
                // `.` or an ancestor, say) would be walked again and again.
                let kind = entry.file_type().map_err(|e| io(e, &path))?;
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_symlink() && path.is_dir() {
                    continue;
                } else if let Ok(rel) = path.strip_prefix(dir) {
                    let bytes = std::fs::read(&path).map_err(|e| io(e, &path))?;
                    let rel = rel
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy())
                        .collect::<Vec<_>>()
                        .join("/");
                    manifest.insert(&rel, &content_hash(&bytes), false);
                }
            }
        }
        Ok(manifest)
    }

    /// The entry of `path`.
    pub fn get(&self, path: &str) -> Option<&ManifestEntry> {
        self.assets.get(&normalize(path))
    }

    /// The content hash of `path`.
    pub fn version(&self, path: &str) -> Option<&str> {
        self.get(path).map(|e| e.hash.as_str())
    }

    /// Marks `path` critical (or not); false when the path is unknown.
    pub fn set_critical(&mut self, path: &str, critical: bool) -> bool {
        self.assets
            .get_mut(&normalize(path))
            .map(|e| e.critical = critical)
            .is_some()
    }

    /// Paths of the critical assets.
    pub fn critical(&self) -> impl Iterator<Item = &str> {
        self.assets
            .iter()
            .filter(|(_, e)| e.critical)
            .map(|(p, _)| p.as_str())
    }

    /// All paths.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.assets.keys().map(String::as_str)
    }

    /// Number of assets.
    pub fn len(&self) -> usize {
        self.assets.len()
    }

    /// Whether there is no asset.
    pub fn is_empty(&self) -> bool {
        self.assets.is_empty()
    }

    /// Paths whose hash differs in `newer` or that `newer` dropped.
    pub fn changed_in(&self, newer: &Manifest) -> Vec<String> {
        self.assets
            .iter()
            .filter(|(p, e)| newer.assets.get(*p).is_none_or(|n| n.hash != e.hash))
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// A short content hash: the first 12 hex digits of SHA-256.
pub fn content_hash(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_in_both_shapes_and_changes() {
        let m = Manifest::from_json(
            r#"{"images/a.jpg": "1", "/app.css": {"hash": "2", "critical": true}}"#,
        )
        .unwrap();
        assert_eq!(m.version("/images/a.jpg"), Some("1"));
        assert_eq!(m.version("images/a.jpg?x=1"), Some("1"));
        assert_eq!(m.critical().collect::<Vec<_>>(), ["/app.css"]);
        let newer = Manifest::new()
            .with("/images/a.jpg", "1", false)
            .with("/new.js", "9", false);
        assert_eq!(m.changed_in(&newer), ["/app.css"]);
        assert!(Manifest::from_json("[1]").is_err());
        assert_eq!(normalize("//evil.example/x.js"), "/evil.example/x.js");
        assert_eq!(normalize("/\\evil.example/x.js"), "/evil.example/x.js");
    }

    #[cfg(unix)]
    #[test]
    fn from_dir_does_not_walk_symlinked_directories() {
        let dir = std::env::temp_dir().join(format!("clip-cdn-manifest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("css")).unwrap();
        std::fs::write(dir.join("css/app.css"), b"body{}").unwrap();
        std::os::unix::fs::symlink(&dir, dir.join("css/loop")).unwrap();
        let m = Manifest::from_dir(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(m.paths().collect::<Vec<_>>(), ["/css/app.css"]);
        assert_eq!(
            m.version("/css/app.css"),
            Some(content_hash(b"body{}").as_str())
        );
    }
}
