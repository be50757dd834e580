//! The dashboard's page: its frame, the token form and the empty panels `dashboard.js`
//! fills from `/api/admin/dashboard`. No figure is in the HTML itself.

use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};

use crate::pages::layout::{Frame, Section, page as frame};
use crate::state::AppState;

/// Scripts and styles from this app only; data only from this app (the autoscaler is read
/// by the server, not by the browser).
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A chart's card: its title, a legend the script fills, and the chart's box.
fn chart(id: &str, title: &str, note: &str) -> Markup {
    html! {
        section.chart-card aria-labelledby={ (id) "-title" } {
            header.chart-head {
                h3 id={ (id) "-title" } { (title) }
                span.chart-note { (note) }
            }
            div.legend id={ (id) "-legend" } {}
            div.chart id=(id) {}
        }
    }
}

/// A figure of the top row.
fn kpi(id: &str, label: &str) -> Markup {
    html! {
        div.kpi {
            span.kpi-label { (label) }
            span.kpi-value id=(id) { "–" }
            span.kpi-sub id={ (id) "-sub" } {}
        }
    }
}

/// `GET /admin/scaling`.
pub async fn page(State(app): State<AppState>) -> Response {
    let instance = &app.config.server.instance_id;
    let main = html! {
        section.page-head {
            div {
                h1 { "Scaling dashboard" }
                p.meta { "Instance " code { (instance) } " and, when it answers, the autoscaler's view of the fleet." }
            }
            div.live #live role="status" aria-live="polite" {
                span.live-dot aria-hidden="true" {}
                span #live-text { "Not connected" }
                button.button.small #forget type="button" hidden { "Forget token" }
            }
        }
        form #token-form .token-card {
            h2 { "Admin token" }
            p { "The dashboard's figures are behind the admin token (" code { "ADMIN_TOKEN" } "). "
                "It stays in this browser tab (" code { "sessionStorage" } ") and is sent as a bearer token with each update." }
            label for="token" { "Admin token" }
            div.field-row {
                input #token name="token" type="password" required autocomplete="current-password" spellcheck="false";
                button.button.primary type="submit" { "Show the dashboard" }
            }
            p #token-error .form-status data-kind="error" role="alert" {}
        }
        div #dash hidden {
            section.kpis aria-label="Now" {
                (kpi("kpi-instances", "Instances"))
                (kpi("kpi-cpu", "CPU"))
                (kpi("kpi-memory", "Memory"))
                (kpi("kpi-rps", "Requests / s"))
                (kpi("kpi-p95", "p95 response"))
                (kpi("kpi-queue", "Jobs waiting"))
            }
            section.panel #autoscaler-panel aria-labelledby="autoscaler-title" {
                header.panel-head {
                    h2 #autoscaler-title { "Autoscaler" }
                    span.pill #autoscaler-state { "…" }
                }
                div #autoscaler {}
            }
            h2.section-title { "This instance, last minutes" }
            div.charts {
                (chart("chart-cpu", "CPU and memory", "% of the limit"))
                (chart("chart-requests", "Requests", "per second"))
                (chart("chart-latency", "Response time", "p95, ms"))
                (chart("chart-pool", "Database pool", "connections"))
                (chart("chart-jobs", "Job queue", "jobs"))
                (chart("chart-cdn", "CDN", "asset fetches per second"))
            }
            div.split {
                section.panel aria-labelledby="verdict-title" {
                    header.panel-head {
                        h2 #verdict-title { "Scaling triggers" }
                        span.pill #verdict-action { "…" }
                    }
                    p.verdict-summary #verdict-summary {}
                    div.table-wrap {
                        table.readings {
                            caption.visually-hidden { "The policy's readings of this instance against its thresholds" }
                            thead { tr { th scope="col" { "Metric" } th scope="col" { "Now" } th scope="col" { "Up above" } th scope="col" { "Down below" } th scope="col" { "Verdict" } } }
                            tbody #readings {}
                        }
                    }
                    p.meta #verdict-note {}
                }
                section.panel aria-labelledby="events-title" {
                    header.panel-head { h2 #events-title { "Scaling events" } }
                    ol.events #events {}
                }
            }
            div.split {
                section.panel aria-labelledby="pool-title" {
                    header.panel-head {
                        h2 #pool-title { "Database pool" }
                        span.pill #pool-health { "…" }
                    }
                    dl.facts #pool-facts {}
                }
                section.panel aria-labelledby="cdn-title" {
                    header.panel-head {
                        h2 #cdn-title { "CDN" }
                        span.pill #cdn-health { "…" }
                    }
                    dl.facts #cdn-facts {}
                }
            }
        }
    };
    let markup = frame(
        &Frame {
            title: "Scaling dashboard",
            section: Section::Scaling,
            instance,
            assets: &["dashboard.css", "dashboard.js"],
        },
        main,
    );
    let mut response = Html(markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(POLICY));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
