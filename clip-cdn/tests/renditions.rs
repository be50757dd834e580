//! Transform URLs end to end: the HTML `cdn.image(..)` writes, fetched from a real image
//! origin (axum rendering testdata photos with the optimizer), decoded, and compared
//! with what the markup promised; and the origin refusing every look-alike query.

mod support;

use std::path::PathBuf;

use clip_cdn::image::{Fit, Format};
use clip_cdn::{Cdn, CdnConfig, Manifest};
use support::html::{element, srcset};
use support::images::{ImageOrigin, photos_dir};
use support::temp_dir;

const KEY: &str = "renditions-test-key-0123456789";

/// A directory with a landscape photo and a portrait JPEG.
fn sources() -> PathBuf {
    let dir = temp_dir("renditions");
    std::fs::copy(photos_dir().join("Dune.jpg"), dir.join("landscape.jpg")).unwrap();
    let (w, h) = (600usize, 900usize);
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i % w * 255 / w) as u8, (i / w * 255 / h) as u8, 90])
        .collect();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_size(w, h);
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(&rgb).unwrap();
    std::fs::write(dir.join("portrait.jpg"), s.finish().unwrap()).unwrap();
    dir
}

/// The page side and the origin share the config and the manifest, as in a deployment.
async fn setup(dir: &std::path::Path, keys: &[&str]) -> (Cdn, ImageOrigin) {
    let manifest = Manifest::from_dir(dir).unwrap();
    // The origin's own Cdn: verifies queries; its origin_url does not matter.
    let config = CdnConfig {
        signing_keys: keys.iter().map(|k| k.to_string()).collect(),
        ..CdnConfig::default()
    };
    let origin_side = Cdn::new(config.clone()).unwrap();
    origin_side.set_manifest(manifest.clone()).await;
    let origin = ImageOrigin::start(origin_side, dir.to_path_buf()).await;
    let page_side = Cdn::new(CdnConfig {
        origin_url: Some(origin.url()),
        ..config
    })
    .unwrap();
    page_side.set_manifest(manifest).await;
    (page_side, origin)
}

async fn rendered_size(http: &reqwest::Client, url: &str) -> (u32, u32) {
    let response = http.get(url).send().await.unwrap();
    let status = response.status();
    let body = response.bytes().await.unwrap();
    assert!(
        status.is_success(),
        "{url}: {status} {}",
        String::from_utf8_lossy(&body)
    );
    let img = image::load_from_memory(&body).expect("the rendition decodes");
    (img.width(), img.height())
}

/// Whether both sizes have one aspect ratio within a pixel: some ratio `r` gives each
/// height from its width, give or take one pixel (each side is rounded at its own scale).
fn same_aspect((aw, ah): (u32, u32), (bw, bh): (u32, u32)) -> bool {
    let range = |w: u32, h: u32| {
        let (w, h) = (f64::from(w), f64::from(h));
        ((h - 1.0) / w, (h + 1.0) / w)
    };
    let (a_lo, a_hi) = range(aw, ah);
    let (b_lo, b_hi) = range(bw, bh);
    a_lo <= b_hi && b_lo <= a_hi
}

fn attr(img: &std::collections::HashMap<String, String>, name: &str) -> u32 {
    img.get(name)
        .unwrap_or_else(|| panic!("no {name} attribute: {img:?}"))
        .parse()
        .unwrap()
}

/// Every candidate of `srcset`, and `src`, renders an image with the aspect ratio of the
/// `<img width height>` box (within a pixel) and as wide as its descriptor says.
#[tokio::test]
async fn srcset_candidates_and_img_size_have_the_rendered_aspect() {
    let dir = sources();
    let http = reqwest::Client::new();
    for keys in [&[][..], &[KEY][..]] {
        let (cdn, _origin) = setup(&dir, keys).await;
        for source in ["/landscape.jpg", "/portrait.jpg"] {
            for fit in [Fit::Cover, Fit::Inside] {
                for (w, h) in [
                    (Some(300), Some(200)),
                    (Some(200), Some(300)),
                    (Some(300), None),
                ] {
                    let mut image = cdn.image(source).fit(fit).format(Format::WebP);
                    if let Some(w) = w {
                        image = image.width(w);
                    }
                    if let Some(h) = h {
                        image = image.height(h);
                    }
                    let html = image.to_html();
                    let case = format!("{source} {fit:?} {w:?}x{h:?} signed={}", !keys.is_empty());
                    let img = element(&html, "img").unwrap();
                    let (aw, ah) = (attr(&img, "width"), attr(&img, "height"));
                    let mut candidates = srcset(&img["srcset"]);
                    candidates.push((img["src"].clone(), 0));
                    for (url, descriptor) in candidates {
                        let (pw, ph) = rendered_size(&http, &url).await;
                        assert!(
                            same_aspect((aw, ah), (pw, ph)),
                            "{case}: <img {aw}x{ah}> but {url} renders {pw}x{ph}"
                        );
                        assert!(
                            descriptor == 0 || descriptor == pw,
                            "{case}: {url} is described as {descriptor}w and renders {pw}x{ph}"
                        );
                    }
                }
            }
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Each rendition has one URL: the origin answers only the exact query `cdn.image(..)`
/// writes, and a 400 that names the problem to any look-alike (each would be another CDN
/// cache miss costing a full render).
#[tokio::test]
async fn the_origin_refuses_look_alike_queries_and_names_the_problem() {
    let dir = sources();
    let (cdn, origin) = setup(&dir, &[]).await;
    let http = reqwest::Client::new();
    let url = cdn.image("/landscape.jpg").width(320).quality(85).url();
    let (_, canonical) = url.split_once('?').unwrap();
    let version = cdn.manifest().version("/landscape.jpg").unwrap().to_owned();
    assert_eq!(canonical, format!("w=320&q=85&v={version}"));
    let get = async |query: &str| {
        let r = http
            .get(format!("{}/landscape.jpg?{query}", origin.url()))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(get(canonical).await.0, 200, "the canonical query renders");
    for (query, names) in [
        (format!("w=320&q=85&v=0{version}"), "version"),
        ("w=320&q=85&v=1".to_owned(), "version"),
        ("w=320&q=85".to_owned(), "version"),
        (format!("w=320&w=320&q=85&v={version}"), "repeated"),
        (format!("q=85&w=320&v={version}"), "order"),
        (format!("w=320&q=85&pr=x&v={version}"), "pr"),
        (format!("w=320&q=85&pr=0&v={version}"), "pr"),
        (format!("w=320&q=85&fm=JPEG&v={version}"), "fm"),
        (format!("w=320&q=85&fm=jpeg&v={version}"), "fm"),
        (format!("w=320&q=85&fit=inside&v={version}"), "fit"),
        (format!("w=320&q=85&v={version}&"), "&"),
        (
            format!("w=320&q=85&zoom=2&v={version}"),
            "unknown parameter",
        ),
        (format!("w=0320&q=85&v={version}"), "w"),
        (format!("w=321&q=85&v={version}"), "CDN_IMAGE_WIDTHS"),
    ] {
        let (status, body) = get(&query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(
            body.contains(names),
            "{query}: {body:?} should name {names:?}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// With signing keys set, an unsigned query is refused even within the allow-lists.
#[tokio::test]
async fn with_signing_keys_unsigned_queries_are_refused() {
    let dir = sources();
    let (cdn, origin) = setup(&dir, &[KEY]).await;
    let version = cdn.manifest().version("/landscape.jpg").unwrap().to_owned();
    let signed = cdn.image("/landscape.jpg").width(320).quality(85).url();
    let http = reqwest::Client::new();
    assert_eq!(http.get(&signed).send().await.unwrap().status(), 200);
    let unsigned = format!("{}/landscape.jpg?w=320&q=85&v={version}", origin.url());
    let response = http.get(&unsigned).send().await.unwrap();
    assert_eq!(response.status(), 403);
    let body = response.text().await.unwrap();
    assert!(body.contains("signature"), "{body}");
    // The original at its one versioned URL renders nothing: no signature needed.
    let original = http.get(cdn.url("/landscape.jpg")).send().await.unwrap();
    assert_eq!(original.status(), 200);
    std::fs::remove_dir_all(dir).unwrap();
}

/// What the origin sends: the rendition's own type, `immutable` only for a URL carrying
/// the manifest's version (a year in every cache is right only when a new file gets a new
/// URL), `nosniff`; and a refused query is refused before any file is looked up.
#[tokio::test]
async fn the_origin_answers_with_the_right_type_and_cache_lifetime() {
    let dir = sources();
    let (cdn, origin) = setup(&dir, &[]).await;
    // Added after the manifest was built: an upload the manifest does not list.
    std::fs::copy(photos_dir().join("Garden.jpg"), dir.join("upload.jpg")).unwrap();
    let http = reqwest::Client::new();
    let get = async |url: String| {
        let r = http.get(&url).send().await.unwrap();
        let header = |name: &str| {
            r.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default()
        };
        let (status, kind, cache, sniff) = (
            r.status().as_u16(),
            header("content-type"),
            header("cache-control"),
            header("x-content-type-options"),
        );
        (status, kind, cache, sniff, r.bytes().await.unwrap())
    };
    let immutable = "public, max-age=31536000, immutable";

    let (status, kind, cache, sniff, _) = get(cdn
        .image("/landscape.jpg")
        .width(320)
        .format(Format::WebP)
        .url())
    .await;
    assert_eq!(
        (status, kind.as_str(), cache.as_str()),
        (200, "image/webp", immutable)
    );
    assert_eq!(sniff, "nosniff");

    // The versioned original, untouched.
    let original = cdn.url("/landscape.jpg");
    let (status, kind, cache, _, body) = get(original).await;
    assert_eq!(
        (status, kind.as_str(), cache.as_str()),
        (200, "image/jpeg", immutable)
    );
    assert_eq!(body, std::fs::read(dir.join("landscape.jpg")).unwrap());

    // Not in the manifest: no version in its URL, so no year-long promise.
    let (status, _, cache, _, _) = get(cdn.image("/upload.jpg").width(320).url()).await;
    assert_eq!(status, 200);
    assert!(
        !cache.contains("immutable") && cache.contains("max-age="),
        "{cache}"
    );

    // A bad query for a file that does not exist: 400, not 404 (verified first).
    let (status, ..) = get(format!("{}/nothing.jpg?w=7", origin.url())).await;
    assert_eq!(status, 400);
    std::fs::remove_dir_all(dir).unwrap();
}
