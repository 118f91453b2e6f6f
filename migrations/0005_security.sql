-- Issue 15 (security). Written by hand; drizzle's snapshots are reconciled by the lead.

-- API key scopes (ADR 0015): space-separated. Keys made before scopes existed
-- keep what they could do (speech, voices, history); billing, keys and
-- account changes became session-only for every key.
ALTER TABLE `api_keys` ADD `scopes` text NOT NULL DEFAULT 'speech voices:read voices:write history';

-- Consent for cloned voices (ADR 0016): no foreign keys on purpose, so the
-- record outlives the voice (and the account) it was given for.
CREATE TABLE `voice_consents` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`voice_id` text NOT NULL,
	`statement_version` text NOT NULL,
	`client_ip` text,
	`audio_sha256` text NOT NULL,
	`source` text NOT NULL,
	`created_at` integer NOT NULL
);
CREATE UNIQUE INDEX `voice_consents_voice_idx` ON `voice_consents` (`voice_id`);
CREATE INDEX `voice_consents_user_idx` ON `voice_consents` (`user_id`, `created_at`);

-- Failed sign-ins per account, for a growing delay (worker/auth/sign-in-throttle.ts).
CREATE TABLE `sign_in_failures` (
	`account` text PRIMARY KEY NOT NULL,
	`failures` integer NOT NULL,
	`last_failure_at` integer NOT NULL,
	`blocked_until` integer NOT NULL
);

-- Development only: mail the local mailer "sent", listed at /dev/outbox.
CREATE TABLE `dev_outbox` (
	`id` text PRIMARY KEY NOT NULL,
	`to` text NOT NULL,
	`subject` text NOT NULL,
	`text` text NOT NULL,
	`created_at` integer NOT NULL
);
