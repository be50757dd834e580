//! URL building, versioning, signing and the HTML helper, checked the way a page author
//! and an origin would: parse the HTML, verify the URLs.

mod support;

use clip_cdn::image::{Fit, Format};
use clip_cdn::{Cdn, CdnConfig, Error, Manifest};
use support::html::element;

const KEY: &str = "test-signing-key-0123456789";

fn config() -> CdnConfig {
    CdnConfig {
        base_url: Some("https://cdn.example.com".into()),
        origin_url: Some("https://app.example.com".into()),
        ..CdnConfig::default()
    }
}

async fn cdn_with(config: CdnConfig) -> Cdn {
    let cdn = Cdn::new(config).unwrap();
    cdn.set_manifest(
        Manifest::new()
            .with("/images/thumbnail.jpg", "abc123", false)
            .with("/hero.jpg", "h1", true),
    )
    .await;
    cdn
}

fn split(url: &str) -> (&str, &str) {
    url.split_once('?').unwrap_or((url, ""))
}

#[tokio::test]
async fn urls_are_versioned_and_follow_the_cdn_switch() {
    let cdn = cdn_with(config()).await;
    assert_eq!(
        cdn.url("/images/thumbnail.jpg"),
        "https://cdn.example.com/images/thumbnail.jpg?v=abc123"
    );
    assert_eq!(
        cdn.url("images/unknown.css"),
        "https://cdn.example.com/images/unknown.css"
    );

    let off = cdn_with(CdnConfig {
        enabled: false,
        ..config()
    })
    .await;
    assert_eq!(
        off.url("/images/thumbnail.jpg"),
        "https://app.example.com/images/thumbnail.jpg?v=abc123"
    );
    let relative = cdn_with(CdnConfig {
        enabled: false,
        origin_url: None,
        ..config()
    })
    .await;
    assert_eq!(
        relative.url("/images/thumbnail.jpg"),
        "/images/thumbnail.jpg?v=abc123"
    );

    // A new manifest changes the URL of what changed, and only that.
    let changed = cdn
        .set_manifest(
            Manifest::new()
                .with("/images/thumbnail.jpg", "def456", false)
                .with("/hero.jpg", "h1", true),
        )
        .await;
    assert_eq!(changed, ["/images/thumbnail.jpg"]);
    assert!(cdn.url("/images/thumbnail.jpg").ends_with("?v=def456"));
}

#[tokio::test]
async fn signed_transform_urls_verify_at_the_origin_and_tampering_fails() {
    let cdn = cdn_with(CdnConfig {
        signing_keys: vec![KEY.into()],
        ..config()
    })
    .await;
    let url = cdn
        .image("/images/thumbnail.jpg")
        .width(300)
        .height(200)
        .quality(85)
        .format(Format::WebP)
        .progressive(true)
        .fit(Fit::Cover)
        .url();
    let (base, query) = split(&url);
    assert_eq!(base, "https://cdn.example.com/images/thumbnail.jpg");
    let request = cdn
        .verify_transform("/images/thumbnail.jpg", query)
        .unwrap();
    let opts = request.transform.to_options(Format::Jpeg);
    assert_eq!(
        (opts.width, opts.height, opts.quality, opts.format),
        (Some(300), Some(200), 85, Format::WebP)
    );
    assert_eq!(opts.fit, Fit::Cover);
    assert_eq!(request.version.as_deref(), Some("abc123"));

    let tampered = query.replace("w=300", "w=4000");
    assert!(matches!(
        cdn.verify_transform("/images/thumbnail.jpg", &tampered),
        Err(Error::BadSignature)
    ));
    // Another path: its version differs (here: it has none), and so would the signature.
    assert!(matches!(
        cdn.verify_transform("/images/other.jpg", query),
        Err(Error::BadTransform(_))
    ));
    let unversioned = cdn.image("/images/other.jpg").width(300).url();
    let (_, other_query) = split(&unversioned);
    assert!(
        cdn.verify_transform("/images/other.jpg", other_query)
            .is_ok()
    );
    assert!(matches!(
        cdn.verify_transform("/images/another.jpg", other_query),
        Err(Error::BadSignature)
    ));
    // Look-alikes of a signed URL would each miss the CDN cache: only the exact one passes.
    let (params, signature) = query.rsplit_once("&s=").unwrap();
    for variant in [
        query.replace("w=300&h=200", "h=200&w=300"),
        query.replace("w=300", "w=300&w=300"),
        query.replace("pr=1", "pr=1&pr=1"),
        format!("{params}&s={}", signature.to_uppercase()),
        format!("{params}&s=+{}", &signature[1..]),
        format!("{query}&"),
    ] {
        // Respellings are refused by the parser, before any HMAC is computed.
        assert!(
            matches!(
                cdn.verify_transform("/images/thumbnail.jpg", &variant),
                Err(Error::BadSignature | Error::BadTransform(_))
            ),
            "{variant}"
        );
    }

    // Rotation: a URL signed with the old key still verifies while the old key is listed second.
    let rotated = cdn_with(CdnConfig {
        signing_keys: vec!["the-new-key-0123456789".into(), KEY.into()],
        ..config()
    })
    .await;
    assert!(
        rotated
            .verify_transform("/images/thumbnail.jpg", query)
            .is_ok()
    );
    let dropped = cdn_with(CdnConfig {
        signing_keys: vec!["the-new-key-0123456789".into()],
        ..config()
    })
    .await;
    assert!(matches!(
        dropped.verify_transform("/images/thumbnail.jpg", query),
        Err(Error::BadSignature)
    ));
}

#[tokio::test]
async fn unsigned_transforms_are_limited_to_the_allow_lists() {
    let cdn = cdn_with(config()).await;
    let url = cdn
        .image("/images/thumbnail.jpg")
        .width(300)
        .quality(83)
        .url();
    let (_, query) = split(&url);
    // Snapped up to the nearest allowed width and quality, and accepted by the origin.
    assert!(query.starts_with("w=320&q=85"), "{query}");
    assert!(cdn.verify_transform("/images/thumbnail.jpg", query).is_ok());
    // Canonical and current, but outside the lists: a width, a quality, a lone height,
    // a height that is no allowed aspect ratio of its width.
    for bad in ["w=301", "w=320&q=83", "h=7", "w=320&h=7", "w=320&h=201"] {
        let query = format!("{bad}&v=abc123");
        assert!(
            matches!(
                cdn.verify_transform("/images/thumbnail.jpg", &query),
                Err(Error::NotAllowed(_))
            ),
            "{query} accepted"
        );
    }
    // A box snaps to the nearest allowed aspect ratio: 300x200 is 3:2, 320 wide is 213 high.
    let boxed = cdn
        .image("/images/thumbnail.jpg")
        .width(300)
        .height(200)
        .url();
    let (_, query) = split(&boxed);
    assert_eq!(query, "w=320&h=213&v=abc123");
    assert!(cdn.verify_transform("/images/thumbnail.jpg", query).is_ok());
}

fn srcset_widths(srcset: &str) -> Vec<u32> {
    srcset
        .split(", ")
        .map(|c| {
            c.rsplit_once(' ')
                .unwrap()
                .1
                .trim_end_matches('w')
                .parse()
                .unwrap()
        })
        .collect()
}

#[tokio::test]
async fn html_is_a_lazy_img_with_allowed_srcset_and_origin_fallback() {
    let cdn = cdn_with(CdnConfig {
        signing_keys: vec![KEY.into()],
        ..config()
    })
    .await;
    let html = cdn
        .image("/images/thumbnail.jpg")
        .width(300)
        .height(200)
        .quality(85)
        .format(Format::WebP)
        .progressive(true)
        .alt("A \"thumbnail\" <b>")
        .to_html();
    let img = element(&html, "img").expect("an <img>");
    assert!(element(&html, "link").is_none(), "not critical: no preload");
    // Fit inside a 300x200 box: the height depends on the source, whose size this
    // manifest does not record, so only the width is promised.
    assert_eq!(img["width"], "300");
    assert!(!img.contains_key("height"), "{html}");
    assert_eq!(img["loading"], "lazy");
    assert_eq!(img["decoding"], "async");
    assert_eq!(img["alt"], "A \"thumbnail\" <b>");
    assert!(
        img["src"]
            .starts_with("https://cdn.example.com/images/thumbnail.jpg?w=300&h=200&q=85&fm=webp")
    );
    let widths = srcset_widths(&img["srcset"]);
    assert_eq!(
        widths,
        [256, 320, 480, 640],
        "half to twice the width, and one covering 2x"
    );
    assert!(
        widths
            .iter()
            .all(|w| cdn.config().allowed_widths.contains(w)),
        "{widths:?}"
    );
    // Every srcset URL verifies at the origin.
    for candidate in img["srcset"].split(", ") {
        let url = candidate.rsplit_once(' ').unwrap().0;
        let (_, query) = split(url);
        cdn.verify_transform("/images/thumbnail.jpg", query)
            .unwrap();
    }
    assert!(img["sizes"].contains("300px"));
    assert!(
        img["onerror"].contains("https://app.example.com/images/thumbnail.jpg?w=300"),
        "{}",
        img["onerror"]
    );
    // The same fallback as data, for FALLBACK_SCRIPT on pages whose CSP forbids inline handlers.
    assert!(
        img["data-fallback-src"].starts_with("https://app.example.com/images/thumbnail.jpg?w=300")
    );
    let no_inline = cdn_with(CdnConfig {
        inline_onerror: false,
        signing_keys: vec![KEY.into()],
        ..config()
    })
    .await;
    let img = element(
        &no_inline
            .image("/images/thumbnail.jpg")
            .width(300)
            .to_html(),
        "img",
    )
    .unwrap();
    assert!(!img.contains_key("onerror") && img.contains_key("data-fallback-src"));
}

#[tokio::test]
async fn critical_images_preload_and_auto_format_uses_picture() {
    let cdn = cdn_with(config()).await;
    // The manifest marks /hero.jpg critical.
    let html = cdn.image("/hero.jpg").width(640).to_html();
    let link = element(&html, "link").expect("a preload link");
    assert_eq!(
        (link["rel"].as_str(), link["as"].as_str()),
        ("preload", "image")
    );
    assert_eq!(link["fetchpriority"], "high");
    let img = element(&html, "img").unwrap();
    assert_eq!(img["fetchpriority"], "high");
    assert_eq!(img["loading"], "eager");
    // No format chosen: <picture> offers WebP, the <img> keeps the source format.
    let source = element(&html, "source").expect("a <source>");
    assert_eq!(source["type"], "image/webp");
    assert!(source["srcset"].contains("fm=webp"));
    assert!(!img["src"].contains("fm="));
    for w in srcset_widths(&source["srcset"]) {
        assert!(cdn.config().allowed_widths.contains(&w));
    }
}

#[tokio::test]
async fn without_optimization_images_link_the_original() {
    let cdn = cdn_with(CdnConfig {
        image_optimization: false,
        ..config()
    })
    .await;
    let html = cdn.image("/images/thumbnail.jpg").width(300).to_html();
    let img = element(&html, "img").unwrap();
    assert_eq!(
        img["src"],
        "https://cdn.example.com/images/thumbnail.jpg?v=abc123"
    );
    assert!(!img.contains_key("srcset"));
}

/// Paths and sizes come from callers (often from a request): none may panic, point a
/// page at another host, or add an attribute to the HTML.
#[tokio::test]
async fn hostile_paths_and_sizes_stay_inert() {
    let relative = cdn_with(CdnConfig {
        base_url: None,
        origin_url: None,
        ..config()
    })
    .await;
    for path in [
        "//evil.example/x.js",
        "/\\evil.example/x.js",
        "///evil.example/x.js",
    ] {
        let url = relative.url(path);
        assert_eq!(url, "/evil.example/x.js", "{path}: stays on this host");
        let img = relative.image(path).width(300).to_html();
        let src = &element(&img, "img").unwrap()["src"];
        assert!(src.starts_with("/evil.example/x.js?"), "{src}");
    }

    let cdn = cdn_with(config()).await;
    // A width far beyond any allowed one: no overflow, srcset still within the allow-list.
    let image = cdn
        .image("/images/thumbnail.jpg")
        .width(u32::MAX)
        .height(u32::MAX);
    let img = element(&image.to_html(), "img").unwrap();
    let widths = srcset_widths(&img["srcset"]);
    assert!(!widths.is_empty());
    assert!(
        widths
            .iter()
            .all(|w| cdn.config().allowed_widths.contains(w)),
        "{widths:?}"
    );

    let path = "/a\"b' onload='alert(1)<x>.jpg";
    let html = cdn.image(path).width(300).alt("\" onload=\"x").to_html();
    let img = element(&html, "img").unwrap();
    assert!(!img.contains_key("onload"), "no injected attribute: {html}");
    assert!(
        img["src"].contains("/a%22b'%20onload='alert(1)%3Cx%3E.jpg?"),
        "{}",
        img["src"]
    );
    assert_eq!(img["alt"], "\" onload=\"x");
}

/// A file name with a space or a comma is common; its URLs must stay single srcset
/// candidates and still verify at the origin, whichever form of the path it passes.
#[tokio::test]
async fn paths_with_spaces_and_commas_make_valid_srcsets() {
    let cdn = cdn_with(CdnConfig {
        signing_keys: vec![KEY.into()],
        ..config()
    })
    .await;
    let path = "/images/my photo, final.jpg";
    assert_eq!(
        cdn.url(path),
        "https://cdn.example.com/images/my%20photo%2C%20final.jpg"
    );
    let img = element(&cdn.image(path).width(300).to_html(), "img").unwrap();
    let candidates: Vec<&str> = img["srcset"].split(", ").collect();
    assert_eq!(candidates.len(), srcset_widths(&img["srcset"]).len());
    for candidate in candidates {
        let (url, descriptor) = candidate.split_once(' ').expect("url and width");
        assert!(
            descriptor.ends_with('w') && !descriptor.contains(' '),
            "{candidate}"
        );
        let (url_path, query) = split(url);
        let url_path = url_path.trim_start_matches("https://cdn.example.com");
        assert_eq!(url_path, "/images/my%20photo%2C%20final.jpg");
        cdn.verify_transform(url_path, query).unwrap();
        cdn.verify_transform(path, query).unwrap();
    }
}

/// Base URLs set in code, not only from the environment: a trailing slash does not
/// double, and a query or fragment (which would swallow the path) is refused.
#[tokio::test]
async fn base_urls_from_code_are_normalized_or_refused() {
    let cdn = cdn_with(CdnConfig {
        base_url: Some("https://cdn.example.com/".into()),
        origin_url: Some("https://app.example.com//".into()),
        ..config()
    })
    .await;
    assert_eq!(
        cdn.url("/images/thumbnail.jpg"),
        "https://cdn.example.com/images/thumbnail.jpg?v=abc123"
    );
    assert!(
        cdn.image("/a.jpg")
            .origin_url()
            .starts_with("https://app.example.com/a.jpg")
    );
    for bad in [
        "https://cdn.example.com/?x=1",
        "https://cdn.example.com/#top",
    ] {
        let err = Cdn::new(CdnConfig {
            base_url: Some(bad.into()),
            ..config()
        })
        .unwrap_err();
        assert!(err.to_string().contains("CDN_BASE_URL"), "{bad}: {err}");
    }
}
