-- Linking a provider account from a signed-in session: the sign-in that
-- was started by a person who is already signed in links to them.
ALTER TABLE oauth_logins
    ADD COLUMN link_user_id uuid REFERENCES users (user_id) ON DELETE CASCADE;
