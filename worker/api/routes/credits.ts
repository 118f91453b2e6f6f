import { Hono } from "hono";
import * as z from "zod";
import type { ApiEnv } from "../app";
import { documented } from "../route-doc";
import { Ledger } from "../response-schemas";
import { requireUser } from "../../auth/session";
import { balanceWithMonthlyGrant, listLedger } from "../../services/credits";
import { queryParams } from "../validate";

const LedgerQuery = z.object({
  cursor: z.string().regex(/^\d+$/).transform(Number).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(25),
});

export const creditRoutes = new Hono<ApiEnv>().get(
  "/credits/ledger",
  documented({
    operationId: "getCreditLedger",
    summary: "Your balance and ledger entries, newest first",
    tag: "Credits",
    access: "history",
    query: LedgerQuery,
    responses: [{ status: 200, description: "The balance and a page of entries.", json: Ledger }],
    errors: [400],
  }),
  async (c) => {
    const ctx = c.get("ctx");
    const user = await requireUser(ctx, c.req.raw.headers, "history");
    const q = queryParams(c, LedgerQuery);
    const list = () => listLedger(ctx.db, user.id, { cursor: q.cursor, limit: q.limit });
    const [{ balance, granted }, page] = await Promise.all([balanceWithMonthlyGrant(ctx.db, user.id), list()]);
    // The month's grant was written just now: list again so it shows.
    return c.json({ balance, ...(granted ? await list() : page) });
  },
);
