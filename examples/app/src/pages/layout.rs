//! The frame every page shares: the head (title, stylesheet, icon, scripts), the header with
//! the product's name and navigation, and a footer naming the instance that answered (a
//! fleet behind a load balancer shows which one served the page).

use maud::{DOCTYPE, Markup, PreEscaped, html};

use crate::static_files;

/// Which part of the product a page belongs to (marked in the navigation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `/` and the project pages.
    Projects,
    /// `/admin/scaling`.
    Scaling,
}

/// What a page puts in the frame.
#[derive(Debug)]
pub struct Frame<'a> {
    /// The `<title>`, before the product's name.
    pub title: &'a str,
    /// Where it belongs.
    pub section: Section,
    /// `INSTANCE_ID` of the instance rendering it.
    pub instance: &'a str,
    /// Static files (see [`static_files`]) linked after `app.css`: `.css` and `.js` names.
    pub assets: &'a [&'static str],
}

/// The page: `main` inside the shared frame.
pub fn page(frame: &Frame<'_>, main: Markup) -> Markup {
    let current = |section: Section| (frame.section == section).then_some("page");
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light";
                title { (frame.title) " · Creator Clip" }
                link rel="icon" type="image/svg+xml" href=(static_files::url("icon.svg"));
                link rel="stylesheet" href=(static_files::url("app.css"));
                @for name in frame.assets {
                    @if name.ends_with(".css") {
                        link rel="stylesheet" href=(static_files::url(name));
                    } @else {
                        script src=(static_files::url(name)) defer {}
                    }
                }
            }
            body {
                a.skip-link href="#main" { "Skip to content" }
                header.topbar {
                    div.wrap.topbar-inner {
                        a.brand href="/" {
                            (logo())
                            span { "Creator Clip" }
                        }
                        nav.mainnav aria-label="Main" {
                            a href="/" aria-current=[current(Section::Projects)] { "Projects" }
                            a href="/admin/scaling" aria-current=[current(Section::Scaling)] { "Scaling" }
                        }
                    }
                }
                main #main .wrap tabindex="-1" { (main) }
                footer.footer {
                    div.wrap {
                        "Served by instance " code { (frame.instance) }
                        " · clip-app " (env!("CARGO_PKG_VERSION"))
                    }
                }
            }
        }
    }
}

/// The product's mark: a play triangle in a clip frame.
fn logo() -> Markup {
    html! {
        (PreEscaped(r##"<svg class="logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false"><rect x="2" y="5" width="28" height="22" rx="6" fill="#4f46e5"/><path d="M13 11.5v9l7.5-4.5z" fill="#fff"/><path d="M2 10h4M2 22h4M26 10h4M26 22h4" stroke="#c7d2fe" stroke-width="2"/></svg>"##))
    }
}
