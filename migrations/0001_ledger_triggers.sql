-- The credit ledger is append-only and the cached balance is derived from it
-- by trigger, so the two cannot drift (DESIGN §6).
CREATE TRIGGER credit_ledger_no_update BEFORE UPDATE ON credit_ledger
BEGIN
  SELECT RAISE(ABORT, 'credit_ledger is append-only');
END;
--> statement-breakpoint
CREATE TRIGGER credit_ledger_no_delete BEFORE DELETE ON credit_ledger
BEGIN
  SELECT RAISE(ABORT, 'credit_ledger is append-only');
END;
--> statement-breakpoint
-- A reservation may never take the available balance below zero. D1 runs a
-- batch as one transaction, so an abort here rolls back the whole task
-- creation (task, generation and reservation) and concurrent requests cannot
-- overspend.
CREATE TRIGGER credit_ledger_reserve_guard BEFORE INSERT ON credit_ledger
WHEN NEW.kind = 'reserve' AND COALESCE((SELECT balance FROM credit_balances WHERE user_id = NEW.user_id), 0) + NEW.delta < 0
BEGIN
  SELECT RAISE(ABORT, 'insufficient_credits');
END;
--> statement-breakpoint
CREATE TRIGGER credit_ledger_balance AFTER INSERT ON credit_ledger
BEGIN
  INSERT INTO credit_balances (user_id, balance) VALUES (NEW.user_id, NEW.delta)
  ON CONFLICT(user_id) DO UPDATE SET balance = balance + excluded.balance;
END;
-- Note: deleting a user would cascade into credit_ledger and be refused by
-- credit_ledger_no_delete; account deletion is not offered yet (ADR 0004).
