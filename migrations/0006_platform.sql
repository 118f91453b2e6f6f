-- The platform's hot path (issue 16, ADR 0017).
--
-- 1. A lease on the dispatch claim: who claimed a task and until when. A task
--    whose claimant died (or whose release failed) is claimable again once the
--    lease has passed. `engine` records which engine holds the job, next to
--    the engine's `call_id`, so cancels and the dead-letter queue reach it.
ALTER TABLE `tasks` ADD `claimed_by` text;--> statement-breakpoint
ALTER TABLE `tasks` ADD `lease_until` integer;--> statement-breakpoint
ALTER TABLE `tasks` ADD `engine` text;--> statement-breakpoint
-- 2. Indexes for the hot lookups that scanned (test/integration/query-plans.test.ts).
--    Task starts update the generation by task id; the sweep selects by start deadline.
CREATE INDEX `generations_task_idx` ON `generations` (`task_id`);--> statement-breakpoint
CREATE INDEX `tasks_status_created_idx` ON `tasks` (`status`,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_purge_idx` ON `tasks` (`segment_count`,`status`,`finished_at`);--> statement-breakpoint
-- 3. The cached balance is protected like the ledger: it moves only with a
--    ledger entry. Each balance row remembers the last entry it applied; a
--    write must apply the user's newest entry, exactly its delta, once.
ALTER TABLE `credit_balances` ADD `ledger_id` integer;--> statement-breakpoint
UPDATE `credit_balances` SET `ledger_id` = (SELECT max(`id`) FROM `credit_ledger` WHERE `credit_ledger`.`user_id` = `credit_balances`.`user_id`);--> statement-breakpoint
DROP TRIGGER IF EXISTS `credit_ledger_balance`;--> statement-breakpoint
CREATE TRIGGER credit_ledger_balance AFTER INSERT ON credit_ledger
BEGIN
  INSERT INTO credit_balances (user_id, balance, ledger_id) VALUES (NEW.user_id, NEW.delta, NEW.id)
  ON CONFLICT(user_id) DO UPDATE SET balance = balance + excluded.balance, ledger_id = excluded.ledger_id;
END;--> statement-breakpoint
CREATE TRIGGER credit_balances_guard_insert BEFORE INSERT ON credit_balances
WHEN NEW.ledger_id IS NULL
  OR NEW.ledger_id IS NOT (SELECT max(id) FROM credit_ledger WHERE user_id = NEW.user_id)
  OR NEW.balance IS NOT (SELECT delta FROM credit_ledger WHERE id = NEW.ledger_id)
BEGIN
  SELECT RAISE(ABORT, 'credit_balances is derived from credit_ledger');
END;--> statement-breakpoint
CREATE TRIGGER credit_balances_guard_update BEFORE UPDATE ON credit_balances
WHEN NEW.user_id IS NOT OLD.user_id
  OR NEW.ledger_id IS NULL
  OR NEW.ledger_id <= coalesce(OLD.ledger_id, 0)
  OR NEW.ledger_id IS NOT (SELECT max(id) FROM credit_ledger WHERE user_id = NEW.user_id)
  OR NEW.balance - OLD.balance IS NOT (SELECT delta FROM credit_ledger WHERE id = NEW.ledger_id)
BEGIN
  SELECT RAISE(ABORT, 'credit_balances is derived from credit_ledger');
END;--> statement-breakpoint
CREATE TRIGGER credit_balances_no_delete BEFORE DELETE ON credit_balances
BEGIN
  SELECT RAISE(ABORT, 'credit_balances is derived from credit_ledger');
END;
