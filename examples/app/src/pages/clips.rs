//! The videos of a project page: each video with the state of its newest clip job, and its
//! clips, each in a `<video>` element (`preload="none"`: the poster shows until it plays;
//! the MP4 is served with byte ranges, so it starts and seeks without loading whole) whose
//! poster is the clip's poster frame as clip-cdn's optimizer rendered it.

use clip_cdn::Cdn;
use clip_cdn::image::Format;
use maud::{Markup, html};

use super::format;
use crate::db::{Clip, VideoCard};
use crate::routes::videos::clip_url;

/// Display width of a clip, CSS pixels.
const CLIP_WIDTH: u32 = 360;

/// The section: `videos` newest first, with `clips` (those of any of them).
pub fn section(cdn: &Cdn, videos: &[VideoCard], clips: &[Clip]) -> Markup {
    html! {
        @if !videos.is_empty() {
            section.videos aria-labelledby="videos-title" {
                h2 #videos-title .section-title { "Videos and clips" }
                @for card in videos {
                    (video(cdn, card, clips))
                }
            }
        }
    }
}

fn video(cdn: &Cdn, card: &VideoCard, clips: &[Clip]) -> Markup {
    let v = &card.video;
    let own: Vec<&Clip> = clips.iter().filter(|c| c.video_id == v.id).collect();
    html! {
        article.video data-video=(v.id) {
            div.video-head {
                h3.video-name title=(v.filename) { (v.filename) }
                p.meta {
                    @if let Some(d) = v.duration_seconds { (seconds(d)) " · " }
                    @if let (Some(w), Some(h)) = (v.width, v.height) { (w) "×" (h) " · " }
                    (format::bytes(v.size)) " · "
                    time datetime=(format::datetime(v.created_at)) { (format::date(v.created_at)) }
                }
                (badge(card, own.len()))
            }
            @if let Some((state, _, Some(error))) = &card.job && (state == "failed" || state == "dead") {
                p.video-error role="status" { "Clips could not be made: " (error) }
            }
            @if !own.is_empty() {
                ul.gallery.clips role="list" {
                    @for clip in own {
                        li { (figure(cdn, clip)) }
                    }
                }
            }
        }
    }
}

fn badge(card: &VideoCard, clips: usize) -> Markup {
    html! {
        @match &card.job {
            Some((state, progress, _)) if state == "running" => {
                span.badge.busy { "Cutting… " (format!("{progress:.0}")) "%" }
            }
            Some((state, _, _)) if state == "queued" => span.badge.busy { "Waiting" },
            Some((state, _, _)) if state == "failed" || state == "dead" => span.badge.bad { "Failed" },
            Some((state, _, _)) if state == "cancelled" && clips == 0 => span.badge { "Cancelled" },
            _ if clips == 0 => span.badge { "No clips yet" },
            _ => span.badge.ok { (format::count(clips as i64, "clip", "clips")) },
        }
    }
}

fn figure(cdn: &Cdn, clip: &Clip) -> Markup {
    let poster = clip.poster.as_ref().map(|p| {
        cdn.image(&format!("/img/{}/{}", p.asset_id, p.sha256))
            .width(CLIP_WIDTH * 2)
            .format(Format::WebP)
            .url()
    });
    html! {
        figure.shot.clip data-clip=(clip.id) {
            div.frame.clip-frame {
                video controls preload="none" playsinline
                    width=(clip.width) height=(clip.height) poster=[poster]
                    aria-label={ "Clip " (clip.seq) } {
                    source src=(clip_url(clip)) type="video/mp4";
                    a href=(clip_url(clip)) { "Download clip " (clip.seq) }
                }
            }
            figcaption {
                span.shot-name { "Clip " (clip.seq) }
                span.meta {
                    (timecode(clip.start_seconds)) "–" (timecode(clip.end_seconds)) " · "
                    (seconds(clip.duration_seconds)) " · " (clip.width) "×" (clip.height) " · "
                    (format::bytes(clip.size))
                }
                a.badge.ok href=(clip_url(clip)) download={ "clip-" (clip.id) ".mp4" } { "MP4" }
            }
        }
    }
}

/// `4.0 s`, `1 min 05 s`.
fn seconds(s: f64) -> String {
    if s < 59.95 {
        format!("{s:.1} s")
    } else {
        // Rounded once, so 119.7 s reads `2 min 00 s`, not `1 min 60 s`.
        let whole = s.round() as i64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

/// `0:02.0`, `1:05.5`.
fn timecode(s: f64) -> String {
    // In tenths, rounded once: 59.99 s is `1:00.0`, not `0:60.0`.
    let tenths = (s * 10.0).round() as i64;
    format!("{}:{:02}.{}", tenths / 600, tenths % 600 / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_read_as_editors_write_them() {
        assert_eq!(super::timecode(2.0), "0:02.0");
        assert_eq!(super::timecode(65.5), "1:05.5");
        assert_eq!(super::seconds(4.04), "4.0 s");
        assert_eq!(super::seconds(65.0), "1 min 05 s");
        assert_eq!(super::timecode(59.99), "1:00.0");
        assert_eq!(super::seconds(119.7), "2 min 00 s");
        assert_eq!(super::seconds(59.97), "1 min 00 s");
    }
}
