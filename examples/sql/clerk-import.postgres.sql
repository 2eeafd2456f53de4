-- Clerk -> kavachos on PostgreSQL, for those who prefer SQL to `kavach-cli import clerk`: seed 000's
-- statements, corrected (->'verification'->>'status', no stray spaces in names, Clerk's oauth_<provider>
-- is kavachos' <provider>, re-runnable). Load clerk-users.json into clerk_user_import first.
-- Password digests are not in the API export: those users reset their password (or use the CLI with
-- the Dashboard CSV, which carries bcrypt digests).
-- Users.
INSERT INTO kavach_user (id, email, name, email_verified, image, created_at, updated_at)
SELECT
  id,
  lower(email_addresses->0->>'email_address'),
  NULLIF(concat_ws(' ', NULLIF(first_name, ''), NULLIF(last_name, '')), ''),
  (email_addresses->0->'verification'->>'status') = 'verified',
  image_url,
  to_timestamp(created_at / 1000.0),
  to_timestamp(updated_at / 1000.0)
FROM clerk_user_import
ON CONFLICT (id) DO NOTHING;
-- External OAuth connections: Clerk's `oauth_github` is kavachos' `github`.
INSERT INTO kavach_account (id, user_id, provider_id, provider_account_id, access_token, refresh_token, created_at, updated_at)
SELECT
  gen_random_uuid()::text,
  u.id,
  regexp_replace(e.value->>'provider', '^oauth_', ''),
  e.value->>'provider_user_id',
  NULL,
  NULL,
  to_timestamp(u.created_at / 1000.0),
  to_timestamp(u.updated_at / 1000.0)
FROM clerk_user_import u
CROSS JOIN LATERAL jsonb_array_elements(u.external_accounts) e
WHERE NOT EXISTS (
  SELECT 1 FROM kavach_account a
  WHERE a.provider_id = regexp_replace(e.value->>'provider', '^oauth_', '')
    AND a.provider_account_id = e.value->>'provider_user_id'
);
