import { Hono } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { requireUser } from "../../auth/session";
import { ensureMonthlyGrant, getBalance, listLedger } from "../../services/credits";
import { queryParams } from "../validate";

const LedgerQuery = z.object({
  cursor: z.string().regex(/^\d+$/).transform(Number).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
});

export const creditRoutes = new Hono<ApiEnv>().get("/credits/ledger", async (c) => {
  const ctx = c.get("ctx");
  const user = await requireUser(ctx, c.req.raw.headers, "history");
  await ensureMonthlyGrant(ctx.db, user.id, user.plan);
  const q = queryParams(c, LedgerQuery);
  return c.json({ balance: await getBalance(ctx.db, user.id), ...(await listLedger(ctx.db, user.id, { cursor: q.cursor, limit: q.limit })) });
});
