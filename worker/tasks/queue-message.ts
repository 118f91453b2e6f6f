import * as z from "zod";

/** The message on the TASKS queue: only the id; everything else is read from D1. */
export const TaskMessage = z.object({ task_id: z.string().min(1).max(64) });
export type TaskMessage = z.infer<typeof TaskMessage>;
