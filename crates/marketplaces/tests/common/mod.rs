//! What the marketplace tests share: a database of each test's own.

use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// A migrated database of the test's own; dropped by `drop_db`.
pub async fn fresh_db() -> (PgPool, String, String) {
    let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://pod:pod@127.0.0.1:5432/pod".into());
    let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
        panic!("this test needs PostgreSQL at {admin}: {e}. Start it with `scripts/services.sh` (or set DATABASE_URL).")
    });
    let db = format!("pod_credentials_{}", Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&mut conn).await.unwrap();
    let pool = PgPool::connect(&url_of(&admin, &db)).await.unwrap();
    pod_projections::db::MIGRATOR.run(&pool).await.unwrap();
    (pool, admin, db)
}

pub async fn drop_db(pool: PgPool, admin: &str, db: &str) {
    pool.close().await;
    let mut conn = PgConnection::connect(admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {db} WITH (FORCE)"))).execute(&mut conn).await.unwrap();
}

/// The URL of database `db` on the server `admin` points at.
pub fn url_of(admin: &str, db: &str) -> String {
    format!("{}/{db}", &admin[..admin.rfind('/').unwrap()])
}
