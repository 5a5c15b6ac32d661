//! What a plan's monthly quotas count, as the read models show it: ideas
//! generated, images asked for (approvals and other takes), and listings
//! approved for publishing, this calendar month (UTC).

use pod_events::TenantId;
use sqlx::PgConnection;
use uuid::Uuid;

/// What a quota counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Ideas generated this month.
    Ideas,
    /// Ideas approved this month (each leads to a design) and other takes
    /// of a design asked for this month.
    Images,
    /// Listings approved (or further along) and changed this month.
    Listings,
}

/// This month's count of `what` for the tenant.
pub async fn this_month(conn: &mut PgConnection, tenant: &TenantId, what: Counted) -> Result<i64, sqlx::Error> {
    let sql = match what {
        Counted::Ideas => "SELECT count(*) FROM ideas WHERE tenant = $1 AND created_at >= date_trunc('month', now())",
        Counted::Images => {
            "SELECT (SELECT count(*) FROM ideas WHERE tenant = $1 AND status = 'approved'
                                                AND updated_at >= date_trunc('month', now()))
                  + (SELECT count(*) FROM activity WHERE tenant = $1 AND event_type = 'DesignRegenerationRequested'
                                                   AND occurred_at >= date_trunc('month', now()))"
        }
        Counted::Listings => {
            "SELECT count(*) FROM listings WHERE tenant = $1 AND status IN ('approved', 'queued', 'published')
             AND updated_at >= date_trunc('month', now())"
        }
    };
    sqlx::query_scalar(sql).bind(tenant).fetch_one(&mut *conn).await
}

/// Of these aggregates (the ones a command named), those whose effect the
/// read models already count: an approved idea, an approved listing.
/// Rounds of ideas are named by their trend, not by a row: never counted.
pub async fn counted_already(
    conn: &mut PgConnection,
    tenant: &TenantId,
    what: Counted,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    let sql = match what {
        Counted::Ideas => return Ok(Vec::new()),
        Counted::Images => "SELECT idea_id FROM ideas WHERE tenant = $1 AND idea_id = ANY($2) AND status = 'approved'",
        Counted::Listings => {
            "SELECT listing_id FROM listings WHERE tenant = $1 AND listing_id = ANY($2)
             AND status IN ('approved', 'queued', 'published')"
        }
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(sql).bind(tenant).bind(ids).fetch_all(&mut *conn).await
}
