//! What the pages read that the API does not: projects with their cover image and image
//! count, and a project's images with the state of their rendering job.

use time::OffsetDateTime;

use crate::Error;
use crate::db::Db;

/// A project as its card on `/` shows it.
#[derive(Debug, Clone)]
pub struct ProjectCard {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// How many images it holds.
    pub images: i64,
    /// Its newest image: `(asset id, sha256)`.
    pub cover: Option<(i64, String)>,
}

/// One page of cards, newest first, and the cursor of the next page.
#[derive(Debug)]
pub struct CardPage {
    /// The cards.
    pub cards: Vec<ProjectCard>,
    /// `?before=` of the next page, if there is one.
    pub next: Option<i64>,
}

/// An image as the project page shows it.
#[derive(Debug, Clone)]
pub struct GalleryImage {
    /// The asset's id.
    pub id: i64,
    /// The name it was uploaded with.
    pub filename: String,
    /// Bytes of the original.
    pub size: i64,
    /// SHA-256 of the original (the version in its `/img` URL).
    pub sha256: String,
    /// When it was uploaded.
    pub created_at: OffsetDateTime,
    /// Renditions rendered so far.
    pub renditions: i64,
    /// While it has no rendition: the state of its job (`queued`, `running`, `failed`,
    /// `dead`) and the job's last error.
    pub job: Option<(String, Option<String>)>,
}

// One row more than shown tells whether an older page exists. The cover is the newest
// asset, read from the (project_id, id DESC) index.
const CARDS: &str = "SELECT p.id, p.name, p.created_at,
        (SELECT count(*) FROM assets a WHERE a.project_id = p.id),
        c.id, c.sha256
    FROM projects p
    LEFT JOIN LATERAL (SELECT id, sha256 FROM assets a WHERE a.project_id = p.id
                       ORDER BY a.id DESC LIMIT 1) c ON true
    WHERE p.id < $1
    ORDER BY p.id DESC LIMIT $2";

// The job is looked up only for images without renditions (queued, running or failed):
// a rendered image needs no job row.
const GALLERY: &str =
    "SELECT a.id, a.filename, a.size, a.sha256, a.created_at, r.n, j.state, j.last_error
    FROM assets a
    CROSS JOIN LATERAL (SELECT count(*) AS n FROM renditions r WHERE r.asset_id = a.id) r
    LEFT JOIN LATERAL (SELECT state, last_error FROM jobs
                       WHERE r.n = 0 AND jobs.project_id = a.project_id AND jobs.kind = 'image'
                         AND jobs.payload @> jsonb_build_object('asset_id', a.id)
                       ORDER BY jobs.id DESC LIMIT 1) j ON true
    WHERE a.project_id = $1
    ORDER BY a.id DESC LIMIT $2";

/// Up to `limit` project cards older than `before`, newest first.
pub async fn project_cards(db: &Db, before: Option<i64>, limit: i64) -> Result<CardPage, Error> {
    let before = before.unwrap_or(i64::MAX);
    let rows = db
        .read(async |c| c.query(CARDS, &[&before, &(limit + 1)]).await)
        .await?;
    let mut cards: Vec<ProjectCard> = rows
        .iter()
        .map(|row| ProjectCard {
            id: row.get(0),
            name: row.get(1),
            created_at: row.get(2),
            images: row.get(3),
            cover: row
                .get::<_, Option<i64>>(4)
                .zip(row.get::<_, Option<String>>(5)),
        })
        .collect();
    let next = if cards.len() as i64 > limit {
        cards.truncate(limit as usize);
        cards.last().map(|c| c.id)
    } else {
        None
    };
    Ok(CardPage { cards, next })
}

/// The newest `limit` images of the project.
pub async fn gallery(db: &Db, project_id: i64, limit: i64) -> Result<Vec<GalleryImage>, Error> {
    let rows = db
        .read(async |c| c.query(GALLERY, &[&project_id, &limit]).await)
        .await?;
    Ok(rows
        .iter()
        .map(|row| GalleryImage {
            id: row.get(0),
            filename: row.get(1),
            size: row.get(2),
            sha256: row.get(3),
            created_at: row.get(4),
            renditions: row.get(5),
            job: row
                .get::<_, Option<String>>(6)
                .map(|state| (state, row.get(7))),
        })
        .collect())
}

/// How many images the project holds.
pub async fn image_count(db: &Db, project_id: i64) -> Result<i64, Error> {
    let row = db
        .read(async |c| {
            c.query_one(
                "SELECT count(*) FROM assets WHERE project_id = $1",
                &[&project_id],
            )
            .await
        })
        .await?;
    Ok(row.get(0))
}
