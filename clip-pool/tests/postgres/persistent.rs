use clip_pool::launcher::{LocalPostgres, Options};
use clip_pool::postgres;

use crate::config;

async fn count_rows(pg: &LocalPostgres) -> i64 {
    let pool = postgres::connect(&pg.url(), config(1)).await.unwrap();
    pool.execute(async |c| {
        c.query_one("SELECT count(*) FROM kept", &[])
            .await
            .map(|r| r.get(0))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_persistent_cluster_keeps_its_data_across_starts_and_replaces_an_orphaned_server() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("embedded");

    let pg = LocalPostgres::start_persistent(&dir, Options::default())
        .await
        .unwrap();
    let pool = postgres::connect(&pg.url(), config(1)).await.unwrap();
    pool.execute(async |c| {
        c.batch_execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (1), (2)")
            .await
    })
    .await
    .unwrap();
    drop(pool);
    drop(pg); // a clean stop, files kept
    assert!(dir.join("data/PG_VERSION").is_file());
    assert!(!dir.join("data/postmaster.pid").exists(), "stopped cleanly");

    // Second start: no initdb, same rows.
    let pg = LocalPostgres::start_persistent(&dir, Options::default())
        .await
        .unwrap();
    assert_eq!(count_rows(&pg).await, 2);

    // Its owner dies without stopping it (as under kill -9): the server keeps running.
    std::mem::forget(pg);
    let pg = LocalPostgres::start_persistent(&dir, Options::default())
        .await
        .unwrap();
    assert_eq!(
        count_rows(&pg).await,
        2,
        "the orphan was stopped, the data kept"
    );
    drop(pg);
    assert!(!dir.join("data/postmaster.pid").exists());
}
