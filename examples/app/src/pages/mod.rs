//! The server-rendered pages of the product: `/` (the projects, newest first, each with its
//! newest image as a cover) and `/projects/{id}` (a project's images), with the frame they
//! share. Images go through clip-cdn's `cdn.image(..).to_html()`: CDN URLs with an origin
//! fallback, `srcset`, lazy loading. Templates are [maud](https://maud.lambda.xyz): markup
//! checked by the compiler, every interpolation escaped unless it says otherwise.
//!
//! The pages read without script; `pages.js` adds the two actions (create a project,
//! upload images) on top of the JSON API.

mod format;
pub mod home;
pub mod layout;
pub mod project;
pub mod queries;

use crate::static_files::StaticFile;

/// The stylesheet, script and icon of the pages.
pub const ASSETS: &[StaticFile] = &[
    StaticFile {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("assets/app.css"),
    },
    StaticFile {
        name: "pages.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("assets/pages.js"),
    },
    StaticFile {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("assets/icon.svg"),
    },
];
