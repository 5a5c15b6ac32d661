//! `pod tenants`, `pod tokens`, `pod users`: shops, the programs that act
//! for them and the people who sign in.

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::config::Settings;

#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Creates a tenant (nothing happens if it exists).
    Create {
        /// Its id: lowercase letters, digits, `-` and `_` (e.g. `acme`).
        tenant: String,
        /// Its display name (default: the id).
        #[arg(long)]
        name: Option<String>,
    },
    /// Sets a tenant's plan (free, pro, unlimited) and, optionally, limits of
    /// its own per month (`--images 500`; `--images plan` goes back to the plan's).
    Plan {
        tenant: String,
        plan: String,
        #[arg(long)]
        ideas: Option<String>,
        #[arg(long)]
        images: Option<String>,
        #[arg(long)]
        listings: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Issues an API token and prints it (the only time it is shown).
    Create {
        #[arg(long)]
        tenant: String,
        /// viewer, editor or owner.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// What it is for, e.g. `ci` or `zapier`.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Creates a person who signs in to the dashboard with a password, read
    /// from `POD_USER_PASSWORD` or else the first line of standard input
    /// (never from the command line, where other users could see it).
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// The name the dashboard shows.
        #[arg(long)]
        name: String,
        /// viewer, editor or owner.
        #[arg(long, default_value = "editor")]
        role: String,
    },
    /// Gives an existing person a role in another shop (they switch shops in the dashboard).
    Add {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// viewer, editor or owner.
        #[arg(long, default_value = "editor")]
        role: String,
    },
}

pub async fn tenants(s: &Settings, command: TenantsCommand) -> anyhow::Result<()> {
    let pool = pod_projections::db::connect(&s.database_url, 2).await?;
    match command {
        TenantsCommand::Create { tenant, name } => {
            let name = name.unwrap_or_else(|| tenant.clone());
            pod_api::auth::create_tenant(&pool, &tenant, &name).await?;
            println!("tenant {tenant} ({name})");
        }
        TenantsCommand::Plan { tenant, plan, ideas, images, listings } => {
            if !pod_api::quotas::PLANS.iter().any(|p| p.name == plan) {
                let names: Vec<&str> = pod_api::quotas::PLANS.iter().map(|p| p.name).collect();
                bail!("plan {plan:?}: use one of {}", names.join(", "));
            }
            let limit = |field: &str, v: &Option<String>| -> anyhow::Result<Option<Option<i32>>> {
                match v.as_deref() {
                    None => Ok(None),
                    Some("plan") => Ok(Some(None)),
                    Some(n) => n
                        .parse::<i32>()
                        .ok()
                        .filter(|n| *n >= 0)
                        .map(|n| Some(Some(n)))
                        .ok_or_else(|| anyhow::anyhow!("--{field} {n:?}: a whole number ≥ 0, or `plan`")),
                }
            };
            let (ideas, images, listings) =
                (limit("ideas", &ideas)?, limit("images", &images)?, limit("listings", &listings)?);
            let done = sqlx::query(
                "UPDATE tenants SET plan = $2,
                   ideas_quota = CASE WHEN $3 THEN $4 ELSE ideas_quota END,
                   images_quota = CASE WHEN $5 THEN $6 ELSE images_quota END,
                   listings_quota = CASE WHEN $7 THEN $8 ELSE listings_quota END
                 WHERE tenant = $1",
            )
            .bind(&tenant)
            .bind(&plan)
            .bind(ideas.is_some())
            .bind(ideas.flatten())
            .bind(images.is_some())
            .bind(images.flatten())
            .bind(listings.is_some())
            .bind(listings.flatten())
            .execute(&pool)
            .await?;
            if done.rows_affected() == 0 {
                bail!("tenant {tenant:?} does not exist (create it with `pod tenants create`)");
            }
            println!("tenant {tenant} is on the {plan} plan");
        }
    }
    Ok(())
}

pub async fn tokens(s: &Settings, command: TokensCommand) -> anyhow::Result<()> {
    let TokensCommand::Create { tenant, role, name } = command;
    let role = pod_api::auth::Role::parse(&role)
        .ok_or_else(|| anyhow::anyhow!("--role {role:?}: use viewer, editor or owner"))?;
    let pool = pod_projections::db::connect(&s.database_url, 2).await?;
    let token = pod_api::auth::issue_token(&pool, &tenant, &name, role).await?;
    println!("{token}");
    eprintln!("keep it: this token is shown only now (tenant {tenant}, role {})", role.as_str());
    Ok(())
}

pub async fn users(s: &Settings, command: UsersCommand) -> anyhow::Result<()> {
    let (tenant, email, name, role) = match command {
        UsersCommand::Create { tenant, email, name, role } => (tenant, email, name, role),
        UsersCommand::Add { tenant, email, role } => {
            let role = pod_api::auth::Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role {role:?}: use viewer, editor or owner"))?;
            let pool = pod_projections::db::connect(&s.database_url, 2).await?;
            pod_api::auth::add_member(&pool, &email, &tenant, role).await?;
            println!("{email} is {} of {tenant}", role.as_str());
            return Ok(());
        }
    };
    let role = pod_api::auth::Role::parse(&role)
        .ok_or_else(|| anyhow::anyhow!("--role {role:?}: use viewer, editor or owner"))?;
    let password = match std::env::var("POD_USER_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            eprintln!("password for {email} (one line on standard input):");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let pool = pod_projections::db::connect(&s.database_url, 2).await?;
    let user = pod_api::auth::create_user(&pool, &tenant, &email, &name, &password, role).await?;
    println!("user {} ({}) is {} of {tenant}", user.email, user.display_name, role.as_str());
    Ok(())
}
