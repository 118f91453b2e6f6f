-- Typed artifacts (ADR 0009): one row per durable output of a task, of a kind in
-- worker/engine/artifacts.ts. Written by the settle (and, for after_completed
-- kinds such as final_mp3, on upload). `idx` is the index of indexed kinds
-- (segment) and -1 for unindexed ones (final, final_mp3), so the primary key
-- holds for both. `size_bytes` is null only for rows backfilled below.
CREATE TABLE `task_artifacts` (
	`task_id` text NOT NULL,
	`user_id` text NOT NULL REFERENCES `user`(`id`) ON DELETE cascade,
	`kind` text NOT NULL,
	`idx` integer NOT NULL DEFAULT -1,
	`r2_key` text NOT NULL,
	`content_type` text NOT NULL,
	`size_bytes` integer,
	`created_at` integer NOT NULL,
	PRIMARY KEY (`task_id`, `kind`, `idx`)
);
CREATE INDEX `task_artifacts_user_idx` ON `task_artifacts` (`user_id`, `task_id`);

-- Existing generations stay playable: their final WAV and MP3 become artifacts.
INSERT OR IGNORE INTO `task_artifacts` (`task_id`, `user_id`, `kind`, `idx`, `r2_key`, `content_type`, `size_bytes`, `created_at`)
SELECT `task_id`, `user_id`, 'final', -1, `audio_key`, 'audio/wav', `size_bytes`, coalesce(`completed_at`, `created_at`)
FROM `generations` WHERE `status` = 'succeeded' AND `audio_key` IS NOT NULL;

INSERT OR IGNORE INTO `task_artifacts` (`task_id`, `user_id`, `kind`, `idx`, `r2_key`, `content_type`, `size_bytes`, `created_at`)
SELECT `task_id`, `user_id`, 'final_mp3', -1, 'users/' || `user_id` || '/generations/' || `id` || '.mp3', 'audio/mpeg', `mp3_size_bytes`, coalesce(`completed_at`, `created_at`)
FROM `generations` WHERE `status` = 'succeeded' AND `mp3_size_bytes` IS NOT NULL;

-- Finished design previews.
INSERT OR IGNORE INTO `task_artifacts` (`task_id`, `user_id`, `kind`, `idx`, `r2_key`, `content_type`, `size_bytes`, `created_at`)
SELECT `id`, `user_id`, 'final', -1, 'users/' || `user_id` || '/previews/' || `id` || '.wav', 'audio/wav', json_extract(`result`, '$.size_bytes'), coalesce(`finished_at`, `updated_at`)
FROM `tasks` WHERE `kind` = 'design_preview' AND `status` = 'succeeded';

-- The segments of succeeded tasks (cancelled and failed ones keep none: their parts were never settled as delivered).
INSERT OR IGNORE INTO `task_artifacts` (`task_id`, `user_id`, `kind`, `idx`, `r2_key`, `content_type`, `size_bytes`, `created_at`)
WITH RECURSIVE `n`(`i`) AS (SELECT 0 UNION ALL SELECT `i` + 1 FROM `n` WHERE `i` < 999)
SELECT t.`id`, t.`user_id`, 'segment', n.`i`, 'users/' || t.`user_id` || '/tasks/' || t.`id` || '/segments/' || n.`i` || '.wav', 'audio/wav', NULL, coalesce(t.`finished_at`, t.`updated_at`)
FROM `tasks` t JOIN `n` ON n.`i` < t.`segment_count` WHERE t.`status` = 'succeeded';

-- The MP3 column was a per-format special case; the registry replaces it.
ALTER TABLE `generations` DROP COLUMN `mp3_size_bytes`;
