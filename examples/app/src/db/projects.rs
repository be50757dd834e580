//! Projects: create, keyset pages (newest first), read, delete.

use serde::Serialize;
use time::OffsetDateTime;
use tokio_postgres::Row;

use super::Db;
use crate::Error;

/// A project as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Project {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// When it was created (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<&Row> for Project {
    fn from(row: &Row) -> Self {
        Project {
            id: row.get(0),
            name: row.get(1),
            created_at: row.get(2),
        }
    }
}

/// One page of a keyset-paginated list.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

const FIRST_PAGE: &str = "SELECT id, name, created_at FROM projects ORDER BY id DESC LIMIT $1";
const NEXT_PAGE: &str =
    "SELECT id, name, created_at FROM projects WHERE id < $1 ORDER BY id DESC LIMIT $2";

impl Db {
    /// Creates a project.
    pub async fn create_project(&self, name: &str) -> Result<Project, Error> {
        let row = self
            .write(async |c| {
                c.query_one(
                    "INSERT INTO projects (name) VALUES ($1) RETURNING id, name, created_at",
                    &[&name],
                )
                .await
            })
            .await?;
        Ok(Project::from(&row))
    }

    /// Up to `limit` projects older than `before` (the previous page's cursor), newest first.
    /// The API's hot path: one statement on a shared, pipelined connection.
    pub async fn list_projects(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Page<Project>, Error> {
        // One row more than asked tells whether a next page exists.
        let fetch = i64::from(limit) + 1;
        let rows = self
            .read(async |c| match before {
                Some(id) => c.query(NEXT_PAGE, &[&id, &fetch]).await,
                None => c.query(FIRST_PAGE, &[&fetch]).await,
            })
            .await?;
        let mut items: Vec<Project> = rows.iter().map(Project::from).collect();
        let next_cursor = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|p| p.id.to_string())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    /// The project, if it exists.
    pub async fn project(&self, id: i64) -> Result<Option<Project>, Error> {
        let row = self
            .read(async |c| {
                c.query_opt(
                    "SELECT id, name, created_at FROM projects WHERE id = $1",
                    &[&id],
                )
                .await
            })
            .await?;
        Ok(row.as_ref().map(Project::from))
    }

    /// Deletes the project with its assets, renditions and jobs (cascade); false when it did
    /// not exist. The caller removes the stored files.
    pub async fn delete_project(&self, id: i64) -> Result<bool, Error> {
        let deleted = self
            .write(async |c| {
                c.execute("DELETE FROM projects WHERE id = $1", &[&id])
                    .await
            })
            .await?;
        Ok(deleted > 0)
    }
}
