//! The asset manifest: path -> content hash (and whether the asset is critical, and an
//! image's intrinsic size). The hash goes into every URL (`?v=`), so a changed file gets a
//! new URL: that is how invalidation reaches browsers and CDN edges without purging them.
//! The size lets `cdn.image(..)` write `width`/`height` attributes and `srcset`
//! descriptors that match what the origin will render.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::url_path::normalize;

/// One asset of the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    /// Content hash (any string that changes when the content does).
    pub hash: String,
    /// Critical assets are preloaded and rendered with `fetchpriority="high"`.
    #[serde(default)]
    pub critical: bool,
    /// An image's intrinsic width in pixels, upright (after EXIF orientation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// An image's intrinsic height in pixels, upright.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
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
                width: None,
                height: None,
            },
        );
    }

    /// Records an image's intrinsic size (upright, in pixels) (builder style); see
    /// [`set_size`](Manifest::set_size).
    pub fn with_size(mut self, path: &str, width: u32, height: u32) -> Manifest {
        self.set_size(path, width, height);
        self
    }

    /// Records an image's intrinsic size (upright, in pixels): `cdn.image(path)` then
    /// writes `width`/`height` and `srcset` descriptors that match the rendered image.
    /// False when the path is unknown.
    pub fn set_size(&mut self, path: &str, width: u32, height: u32) -> bool {
        self.assets
            .get_mut(&normalize(path))
            .map(|e| {
                e.width = Some(width);
                e.height = Some(height);
            })
            .is_some()
    }

    /// An image's intrinsic size (upright), when the manifest records it.
    pub fn size(&self, path: &str) -> Option<(u32, u32)> {
        let entry = self.get(path)?;
        Some((entry.width?, entry.height?))
    }

    /// Parses `{"/images/a.jpg": "3f2a9c", "/app.css": {"hash": "77b1", "critical": true},
    /// "/hero.jpg": {"hash": "9e0d", "width": 2560, "height": 1600}}`.
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
                        width: None,
                        height: None,
                    },
                    EntryJson::Full(entry) => entry,
                };
                (normalize(&path), entry)
            })
            .collect();
        Ok(Manifest { assets })
    }

    /// Hashes every file under `dir` (SHA-256, first 12 hex digits) and records the size of
    /// each image (JPEG, PNG, WebP, GIF, read from its header); none is critical.
    /// Symlinks to files are followed; symlinks to directories are not walked.
    /// It reads every file: call it at start-up, or on a blocking thread.
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
                    if let Some((w, h)) = crate::image::upright_size(&bytes) {
                        manifest.set_size(&rel, w, h);
                    }
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
        let sized =
            Manifest::from_json(r#"{"/hero.jpg": {"hash": "9", "width": 2560, "height": 1600}}"#)
                .unwrap();
        assert_eq!(sized.size("/hero.jpg"), Some((2560, 1600)));
        assert_eq!(m.size("/images/a.jpg"), None);
        assert_eq!(normalize("//evil.example/x.js"), "/evil.example/x.js");
        assert_eq!(normalize("/\\evil.example/x.js"), "/evil.example/x.js");
    }

    #[cfg(unix)]
    #[test]
    fn from_dir_does_not_walk_symlinked_directories() {
        let dir = std::env::temp_dir().join(format!("clip-cdn-manifest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("css")).unwrap();
        std::fs::write(dir.join("css/app.css"), b"body{}").unwrap();
        // A PNG header (signature and IHDR) is all the size needs.
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        png.extend(640u32.to_be_bytes());
        png.extend(480u32.to_be_bytes());
        png.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
        std::fs::write(dir.join("logo.png"), &png).unwrap();
        std::os::unix::fs::symlink(&dir, dir.join("css/loop")).unwrap();
        let m = Manifest::from_dir(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(m.paths().collect::<Vec<_>>(), ["/css/app.css", "/logo.png"]);
        assert_eq!(m.size("/logo.png"), Some((640, 480)));
        assert_eq!(m.size("/css/app.css"), None);
        assert_eq!(
            m.version("/css/app.css"),
            Some(content_hash(b"body{}").as_str())
        );
    }
}
