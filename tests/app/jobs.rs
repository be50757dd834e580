//! The queue under failure: a worker killed mid-job, a shutdown cutting a job, instances
//! migrating at the same time.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::ensure;
use crate::support::{
    ChildApp, Ctx, TestApp, TestResult, client, create_project, eventually, finished_job, get_json,
    jpeg, upload,
};

/// Many renditions of a noisy photo: a job that takes seconds.
const SLOW_WIDTHS: &str = "320,400,480,560,640,720,800,880,960,1040,1120,1200";

async fn job_state(app_url: &str, job: i64) -> Option<Value> {
    client()
        .get(format!("{app_url}/api/jobs/{job}"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()
}

pub async fn a_worker_killed_mid_job_loses_no_job(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let vars = [
        ("DATABASE_URL", db.as_str()),
        ("JOB_LEASE_TIMEOUT", "1000"),
        ("RENDITION_WIDTHS", SLOW_WIDTHS),
        ("INSTANCE_ID", "doomed"),
    ];
    let mut doomed = ChildApp::spawn(&vars)?;
    let project = create_project(&doomed.url, "crash").await?;
    let uploaded = upload(&doomed.url, project, "noise.jpg", jpeg(2400, 1600, true)).await?;
    let job = uploaded["job"]["id"].as_i64().ok_or("job")?;
    // Mid-job: running, some renditions made.
    eventually(
        "the job to be half done",
        Duration::from_secs(60),
        || async {
            let job = job_state(&doomed.url, job).await?;
            (job["state"] == "running" && job["progress"].as_f64()? > 0.0).then_some(())
        },
    )
    .await?;
    doomed.signal("KILL")?;
    doomed.wait(Duration::from_secs(10))?;

    // Another instance takes the job over once the lease expires, and finishes it.
    let survivor = TestApp::start(
        &ctx,
        &db,
        &[
            ("JOB_LEASE_TIMEOUT", "1000"),
            ("RENDITION_WIDTHS", SLOW_WIDTHS),
            ("INSTANCE_ID", "survivor"),
        ],
    )
    .await?;
    let done = finished_job(&survivor.url, job, Duration::from_secs(90)).await?;
    ensure!(done["state"] == "succeeded", "{done}");
    ensure!(
        done["attempts"] == 2,
        "one attempt lost with the worker: {done}"
    );
    let renditions = done["result"]["renditions"].as_array().map(Vec::len);
    ensure!(renditions == Some(24), "every rendition: {renditions:?}");
    let metrics = survivor.metrics().await?;
    ensure!(
        metrics.contains("clip_jobs_failed_total{kind=\"image\",reason=\"lease_expired\"} 1"),
        "the expired lease is counted"
    );
    survivor.stop().await
}

pub async fn shutdown_gives_unfinished_jobs_back(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let slow = [
        ("RENDITION_WIDTHS", SLOW_WIDTHS),
        ("GRACEFUL_SHUTDOWN_TIMEOUT", "1000"),
    ];
    let first = TestApp::start(&ctx, &db, &slow).await?;
    let project = create_project(&first.url, "interrupted").await?;
    let uploaded = upload(&first.url, project, "noise.jpg", jpeg(2400, 1600, true)).await?;
    let job = uploaded["job"]["id"].as_i64().ok_or("job")?;
    eventually("the job to start", Duration::from_secs(30), || async {
        let job = job_state(&first.url, job).await?;
        (job["state"] == "running").then_some(())
    })
    .await?;
    first.stop().await?;

    let second = TestApp::start(
        &ctx,
        &db,
        &[
            ("RENDITION_WIDTHS", SLOW_WIDTHS),
            ("JOB_POLL_INTERVAL", "60000"),
        ],
    )
    .await?;
    // Back in the queue, the interrupted attempt not counted.
    let back: Value = get_json(&second.at(&format!("/api/jobs/{job}"))).await?;
    let waiting = back["state"] == "queued" || back["state"] == "running";
    ensure!(waiting, "queued again: {back}");
    ensure!(
        back["attempts"].as_i64() <= Some(1),
        "attempt not counted: {back}"
    );
    let done = finished_job(&second.url, job, Duration::from_secs(90)).await?;
    ensure!(
        done["state"] == "succeeded" && done["attempts"] == 1,
        "{done}"
    );
    second.stop().await
}

pub async fn instances_starting_together_migrate_once(ctx: Arc<Ctx>) -> TestResult {
    let db = ctx.database().await?;
    let (a, b, c) = tokio::join!(
        TestApp::start(&ctx, &db, &[("INSTANCE_ID", "m1")]),
        TestApp::start(&ctx, &db, &[("INSTANCE_ID", "m2")]),
        TestApp::start(&ctx, &db, &[("INSTANCE_ID", "m3")]),
    );
    let (a, b, c) = (a?, b?, c?);
    let applied: i64 = a
        .state
        .db
        .read(async |c| {
            c.query_one("SELECT count(*) FROM refinery_schema_history", &[])
                .await
                .map(|r| r.get(0))
        })
        .await?;
    // Every migration the app embeds, each once (they are the files of its migrations/).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/app/migrations");
    let files = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "sql"))
        .count();
    ensure!(
        applied == files as i64,
        "each of the {files} migrations once: {applied}"
    );
    // A foreign key without an index whose leading columns are its own makes every delete of
    // the referenced row (and its cascade) scan the referencing table.
    let unindexed: Vec<String> = a
        .state
        .db
        .read(async |c| {
            c.query(
                "SELECT conrelid::regclass::text || '(' || conkey::text || ')' FROM pg_constraint k
                 WHERE contype = 'f' AND NOT EXISTS (
                     SELECT 1 FROM pg_index i WHERE i.indrelid = k.conrelid
                     AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] = k.conkey)",
                &[],
            )
            .await
            .map(|rows| rows.iter().map(|r| r.get(0)).collect())
        })
        .await?;
    ensure!(
        unindexed.is_empty(),
        "foreign keys without an index: {unindexed:?}"
    );
    let project = create_project(&b.url, "after migration").await?;
    ensure!(project > 0, "working schema");
    for app in [a, b, c] {
        app.stop().await?;
    }
    Ok(())
}
