//! The image job: every rendition (`RENDITION_WIDTHS` x `RENDITION_FORMATS`) of an
//! uploaded image, rendered by clip-cdn's optimizer on blocking threads and stored next to
//! the original.

use clip_cdn::image::{Format, ImageOptions};

use super::queue::{ClaimedJob, Queue};
use super::{JobContext, Outcome};
use crate::Error;
use crate::db::Rendition;

/// Where a rendition of the original at `original_key` is stored.
pub fn rendition_key(original_key: &str, width: u32, format: Format) -> String {
    let base = original_key
        .strip_suffix("/original")
        .unwrap_or(original_key);
    format!("{base}/w{width}.{}", format.extension())
}

/// Renders and stores the renditions of the job's asset.
pub async fn render(ctx: &JobContext, queue: &Queue, job: &ClaimedJob) -> Outcome {
    let Some(asset_id) = job.payload.get("asset_id").and_then(|v| v.as_i64()) else {
        return Outcome::Invalid("the job names no asset_id".into());
    };
    let asset = match ctx.db.asset(asset_id).await {
        Ok(Some(asset)) => asset,
        Ok(None) => return Outcome::Invalid(format!("asset {asset_id} was deleted")),
        Err(e) => return transient(e),
    };
    let original = match ctx
        .storage
        .read_all(&asset.storage_key, ctx.max_source_bytes)
        .await
    {
        Ok(bytes) => bytes,
        Err(e @ Error::TooLarge { .. }) => return Outcome::Invalid(e.to_string()),
        Err(e @ Error::NotFound(_)) => return Outcome::Invalid(e.to_string()),
        Err(e) => return transient(e),
    };
    let plan: Vec<(u32, Format)> = ctx
        .images
        .rendition_formats
        .iter()
        .flat_map(|&f| ctx.images.rendition_widths.iter().map(move |&w| (w, f)))
        .collect();
    let mut made = Vec::with_capacity(plan.len());
    for (done, (width, format)) in plan.iter().copied().enumerate() {
        let options = ImageOptions {
            width: Some(width),
            format,
            ..ImageOptions::default()
        };
        let out = match ctx.optimizer.optimize(original.clone(), options).await {
            Ok(out) => out,
            Err(e) => return render_failed(e),
        };
        let key = rendition_key(&asset.storage_key, width, format);
        let stored = match ctx.storage.put_bytes(&key, out.bytes.into()).await {
            Ok(stored) => stored,
            Err(e) => return transient(e),
        };
        let rendition = Rendition {
            width: i32::try_from(width).unwrap_or(i32::MAX),
            height: i32::try_from(out.height).unwrap_or(i32::MAX),
            format: format.extension().to_owned(),
            size: i64::try_from(stored.size).unwrap_or(i64::MAX),
            sha256: stored.sha256,
            storage_key: key,
        };
        if let Err(e) = ctx.db.save_rendition(asset_id, &rendition).await {
            return transient(e);
        }
        made.push(serde_json::json!({
            "width": width,
            "actual_width": out.width,
            "height": out.height,
            "format": rendition.format,
            "size": rendition.size,
        }));
        let percent = (done + 1) as f32 * 100.0 / plan.len() as f32;
        if let Err(e) = queue.progress(job.id, percent).await {
            tracing::debug!(job = job.id, error = %e, "could not record progress");
        }
    }
    Outcome::Succeeded(serde_json::json!({ "asset_id": asset_id, "renditions": made }))
}

/// A failed render: stopping workers and a full optimizer queue (the `/img` route renders
/// on the same optimizer) pass, so the job is tried again; anything else is the upload's.
fn render_failed(e: clip_cdn::Error) -> Outcome {
    match e {
        clip_cdn::Error::WorkerStopped(why) => {
            Outcome::Transient(format!("image worker stopped: {why}"))
        }
        busy @ clip_cdn::Error::Busy { .. } => Outcome::Transient(busy.to_string()),
        other => Outcome::Invalid(other.to_string()),
    }
}

/// A failure that another attempt may not meet. Its cause goes to the log; the job keeps a
/// text without internal detail, since users read it.
fn transient(e: Error) -> Outcome {
    tracing::warn!(error = %e, "image job attempt failed");
    Outcome::Transient(
        match e {
            Error::Unavailable(_) => "the database was unavailable",
            Error::Storage(_) | Error::Io { .. } => "storage failed",
            _ => "internal error (the server log has the details)",
        }
        .to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A busy optimizer is a moment's state, not a bad upload: the job must not end as
    /// failed for good.
    #[test]
    fn a_busy_optimizer_is_retried_and_a_bad_image_is_not() {
        let busy = clip_cdn::Error::Busy {
            running: 2,
            queued: 16,
        };
        assert!(matches!(render_failed(busy), Outcome::Transient(_)));
        assert!(matches!(
            render_failed(clip_cdn::Error::UnknownFormat),
            Outcome::Invalid(_)
        ));
    }
}
