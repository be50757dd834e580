//! `/projects/{id}`: a project's images through `cdn.image(..).to_html()` (CDN URL, origin
//! fallback, srcset, lazy loading), each with the state of its rendering; an upload form.

use clip_cdn::Cdn;
use maud::{Markup, PreEscaped, html};

use super::format;
use super::layout::{Frame, Section, page};
use super::queries::GalleryImage;
use crate::db::Project;

/// Display width of a gallery image, CSS pixels.
const IMAGE_WIDTH: u32 = 320;
/// Images shown above the fold get loaded first (eager, high priority, preloaded).
const ABOVE_THE_FOLD: usize = 3;

/// The page of `project` with `images` (the newest of `total`).
pub fn render(
    cdn: &Cdn,
    instance: &str,
    project: &Project,
    images: &[GalleryImage],
    total: i64,
) -> Markup {
    let main = html! {
        nav.breadcrumb aria-label="Breadcrumb" {
            a href="/" { "Projects" }
            span aria-hidden="true" { "/" }
            span aria-current="page" { (project.name) }
        }
        section.page-head {
            div {
                h1 { (project.name) }
                p.meta {
                    "Created " time datetime=(format::datetime(project.created_at)) { (format::date(project.created_at)) }
                    " · " (format::count(total, "image", "images"))
                }
            }
            form #upload .upload data-project=(project.id) {
                label.button.primary for="upload-file" { "Upload images" }
                input #upload-file .visually-hidden type="file" name="file" multiple
                    accept="image/jpeg,image/png,image/webp";
                p.hint { "JPEG, PNG or WebP. Sizes and formats are rendered by the job queue." }
                p #upload-status .form-status role="status" aria-live="polite" {}
            }
        }
        @if images.is_empty() {
            div.empty {
                h2 { "No images yet" }
                p { "Upload the stills and posters of this project; each one is rendered in every size the pages need." }
            }
        } @else {
            @if (images.len() as i64) < total {
                p.meta { "The newest " (images.len()) " of " (total) " images." }
            }
            ul.gallery role="list" {
                @for (i, image) in images.iter().enumerate() {
                    li { (figure(cdn, image, i < ABOVE_THE_FOLD)) }
                }
            }
        }
    };
    page(
        &Frame {
            title: &project.name,
            section: Section::Projects,
            instance,
            assets: &["pages.js"],
        },
        main,
    )
}

fn figure(cdn: &Cdn, image: &GalleryImage, critical: bool) -> Markup {
    let failed = image
        .job
        .as_ref()
        .filter(|(state, _)| state == "failed" || state == "dead");
    html! {
        figure.shot data-asset=(image.id) {
            div.frame {
                @if let Some((_, error)) = failed {
                    div.frame-failed {
                        strong { "Could not be processed" }
                        span { (error.as_deref().unwrap_or("the rendering job failed")) }
                    }
                } @else {
                    (PreEscaped(cdn.image(&format!("/img/{}/{}", image.id, image.sha256))
                        .width(IMAGE_WIDTH)
                        .alt(&image.filename)
                        .critical(critical)
                        .to_html()))
                }
            }
            figcaption {
                span.shot-name title=(image.filename) { (image.filename) }
                span.meta {
                    (format::bytes(image.size)) " · "
                    time datetime=(format::datetime(image.created_at)) { (format::date(image.created_at)) }
                }
                @match (image.renditions, &image.job) {
                    (0, Some((state, _))) if state == "failed" || state == "dead" => span.badge.bad { "Failed" },
                    (0, Some(_)) => span.badge.busy { "Rendering…" },
                    (0, None) => span.badge.busy { "Waiting" },
                    (n, _) => span.badge.ok { (format::count(n, "rendition", "renditions")) },
                }
            }
        }
    }
}
