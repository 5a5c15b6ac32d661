//! Leadership of a projection: a lease in `projection_leases` whose `epoch`
//! is a fencing token, beside a session advisory lock that says the holder's
//! connection is alive.
//!
//! A session lock alone is not enough: it dies with its connection (a
//! Postgres restart, `pg_terminate_backend`, an idle timeout) while the
//! process holding it lives on, maybe with a pull request out on the shared
//! durable consumer, and maybe about to commit a batch. So:
//!
//! - a standby takes over when the holder's lock is free (its connection is
//!   gone: a crash fails over at once) or its lease has expired (a hung
//!   holder); taking over bumps the epoch;
//! - the leader pulls only while its lease has more than a safety margin left
//!   by its own monotonic clock, measured from *before* the statement that
//!   granted it, and stops at the first failure of its connection;
//! - every batch transaction checks the epoch and extends the lease in the
//!   same transaction as its checkpoint: a deposed leader's commit is refused;
//! - and what a deposed leader may still have pulled in the moment before it
//!   noticed is caught on the NATS side: the new leader checks that it was
//!   handed every delivery of the consumer (see `runtime.rs`, delivery gaps),
//!   so its ack-all never covers a message it did not apply.

use std::time::{Duration, Instant};

use sqlx::PgConnection;
use uuid::Uuid;

/// A lease this instance holds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lease {
    pub holder: Uuid,
    pub epoch: i64,
    duration: Duration,
    /// By this instance's clock, when it must stop pulling.
    pull_until: Instant,
}

/// The part of a lease a batch transaction checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fence {
    pub holder: Uuid,
    pub epoch: i64,
    pub extend: Duration,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Lease {
    /// The margin kept between when the leader stops pulling and when the
    /// database lets a standby take over: a third of the lease.
    fn margin(duration: Duration) -> Duration {
        duration / 3
    }

    fn valid_from(sent: Instant, duration: Duration) -> Instant {
        sent + duration - Self::margin(duration)
    }

    /// Takes the lease if it is free, expired, already this holder's, or
    /// `holder_gone` (this connection got the liveness lock, so whoever held
    /// the lease has lost its connection). Always with a new epoch: anything
    /// an earlier holder (this one included) had in flight is fenced off.
    pub async fn try_acquire(
        conn: &mut PgConnection,
        projection: &str,
        holder: Uuid,
        duration: Duration,
        holder_gone: bool,
    ) -> Result<Option<Lease>, sqlx::Error> {
        let sent = Instant::now();
        let epoch: Option<i64> = sqlx::query_scalar(
            "INSERT INTO projection_leases (projection, holder, epoch, expires_at)
             VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond')
             ON CONFLICT (projection) DO UPDATE
                SET holder = excluded.holder, epoch = projection_leases.epoch + 1,
                    expires_at = excluded.expires_at, acquired_at = now()
              WHERE $4 OR projection_leases.expires_at < now() OR projection_leases.holder = excluded.holder
             RETURNING epoch",
        )
        .bind(projection)
        .bind(holder)
        .bind(millis(duration))
        .bind(holder_gone)
        .fetch_optional(&mut *conn)
        .await?;
        Ok(epoch.map(|epoch| Lease { holder, epoch, duration, pull_until: Self::valid_from(sent, duration) }))
    }

    /// Extends the lease; false if another instance holds it now.
    pub async fn renew(&mut self, conn: &mut PgConnection, projection: &str) -> Result<bool, sqlx::Error> {
        let sent = Instant::now();
        let done = sqlx::query(
            "UPDATE projection_leases SET expires_at = now() + $4 * interval '1 millisecond'
             WHERE projection = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(projection)
        .bind(self.holder)
        .bind(self.epoch)
        .bind(millis(self.duration))
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() == 1 {
            self.pull_until = Self::valid_from(sent, self.duration);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Whether a pull that may wait `window` still ends inside the lease.
    pub fn may_pull(&self, window: Duration) -> bool {
        Instant::now() + window < self.pull_until
    }

    /// Whether less than half the lease is left (time to renew while idle).
    pub fn wants_renewal(&self) -> bool {
        Instant::now() + self.duration / 2 > self.pull_until
    }

    /// A batch transaction that began at `sent` committed with this lease's
    /// fence: the lease was extended from then.
    pub fn extended_by_commit(&mut self, sent: Instant) {
        self.pull_until = self.pull_until.max(Self::valid_from(sent, self.duration));
    }

    pub fn fence(&self) -> Fence {
        Fence { holder: self.holder, epoch: self.epoch, extend: self.duration }
    }

    /// Hands the lease back, so a standby need not wait for it to expire.
    pub async fn release(&self, conn: &mut PgConnection, projection: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE projection_leases SET expires_at = now() - interval '1 millisecond'
             WHERE projection = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(projection)
        .bind(self.holder)
        .bind(self.epoch)
        .execute(&mut *conn)
        .await?;
        Ok(())
    }
}

impl Fence {
    /// Checks, inside a batch transaction, that this fence still holds the
    /// lease, and extends it. The row stays locked until the transaction ends,
    /// so no takeover can slip in between this check and the commit.
    pub async fn check_and_extend(&self, tx: &mut PgConnection, projection: &str) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE projection_leases
                SET expires_at = greatest(expires_at, now() + $4 * interval '1 millisecond')
              WHERE projection = $1 AND holder = $2 AND epoch = $3",
        )
        .bind(projection)
        .bind(self.holder)
        .bind(self.epoch)
        .bind(millis(self.extend))
        .execute(&mut *tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
