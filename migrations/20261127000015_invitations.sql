-- Invitations: an owner invites a person to a shop with a role. The link's
-- secret is stored as its SHA-256; it works once, for seven days.
CREATE TABLE invitations (
    token_sha256  bytea       PRIMARY KEY,
    tenant        text        NOT NULL REFERENCES tenants (tenant) ON DELETE CASCADE,
    email         text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('viewer', 'editor', 'owner')),
    invited_by    uuid        REFERENCES users (user_id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    accepted_at   timestamptz
);
CREATE INDEX invitations_pending ON invitations (tenant, created_at DESC) WHERE accepted_at IS NULL;
