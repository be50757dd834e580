//! `/`: the projects, newest first, as cards with a cover image; a form to create one.

use clip_cdn::Cdn;
use maud::{Markup, PreEscaped, html};

use super::format;
use super::layout::{Frame, Section, page};
use super::queries::CardPage;

/// Display width of a card's cover, CSS pixels.
const COVER_WIDTH: u32 = 360;

/// The page of `cards`.
pub fn render(cdn: &Cdn, instance: &str, cards: &CardPage, first_page: bool) -> Markup {
    let main = html! {
        section.page-head {
            div {
                h1 { "Projects" }
                p.lede { "Newest first. Each project gathers the images its clips are made from." }
            }
            form #new-project .inline-form action="/api/projects" method="post" {
                label for="project-name" { "New project" }
                div.field-row {
                    input #project-name name="name" type="text" required maxlength="200"
                        autocomplete="off" placeholder="e.g. Spring launch video";
                    button.button.primary type="submit" { "Create project" }
                }
                p #new-project-status .form-status role="status" aria-live="polite" {}
            }
        }
        @if cards.cards.is_empty() {
            div.empty {
                @if first_page {
                    h2 { "No projects yet" }
                    p { "Create the first one with the form above, or through the API:" }
                    pre { code { "curl -X POST localhost:3000/api/projects \\\n  -H 'content-type: application/json' -d '{\"name\":\"Launch video\"}'" } }
                } @else {
                    h2 { "No older projects" }
                    p { a href="/" { "Back to the newest" } }
                }
            }
        } @else {
            ul.cards role="list" {
                @for card in &cards.cards {
                    li.card {
                        a.card-link href={ "/projects/" (card.id) } {
                            div.thumb {
                                @if let Some((asset, sha256)) = &card.cover {
                                    (PreEscaped(cdn.image(&format!("/img/{asset}/{sha256}"))
                                        .width(COVER_WIDTH)
                                        .alt("")
                                        .to_html()))
                                } @else {
                                    span.thumb-empty aria-hidden="true" { (initials(&card.name)) }
                                }
                            }
                            div.card-body {
                                h2.card-title { (card.name) }
                                p.meta {
                                    time datetime=(format::datetime(card.created_at)) { (format::date(card.created_at)) }
                                    " · " (format::count(card.images, "image", "images"))
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(next) = cards.next {
            nav.pager aria-label="Pages" {
                @if !first_page { a.button href="/" { "← Newest" } }
                a.button rel="next" href={ "/?before=" (next) } { "Older projects →" }
            }
        } @else if !first_page && !cards.cards.is_empty() {
            nav.pager aria-label="Pages" { a.button href="/" { "← Newest" } }
        }
    };
    page(
        &Frame {
            title: "Projects",
            section: Section::Projects,
            instance,
            assets: &["pages.js"],
        },
        main,
    )
}

/// Up to two initials of a name, for a card without a cover.
fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter_map(|word| word.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn initials_take_the_first_letters_of_two_words() {
        assert_eq!(super::initials("spring launch video"), "SL");
        assert_eq!(super::initials("  «Ärger» im Büro"), "ÄI");
        assert_eq!(super::initials("!!!"), "");
    }
}
