-- Takes (issue 11, ADR 0022): a generation can be rendered several times with
-- the same text and voice. Each render is a task (a "take") of that
-- generation, numbered 1, 2, … per generation; `generations.task_id` names
-- the preferred take, whose status, audio and duration the generation row
-- mirrors. Every existing generation becomes its own single take 1, so its
-- audio keys and artifacts stay exactly where they are.
ALTER TABLE `tasks` ADD `take` integer;--> statement-breakpoint
UPDATE `tasks` SET `take` = 1 WHERE `kind` = 'generate' AND `generation_id` IS NOT NULL;--> statement-breakpoint
-- One take number per generation; also the index the takes list and the
-- next-take lookup read (generation id, then take).
CREATE UNIQUE INDEX `tasks_generation_take_idx` ON `tasks` (`generation_id`,`take`);
