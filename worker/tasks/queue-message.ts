import * as z from "zod";
import { MAX_RESUMES } from "../engine/protocol";

/**
 * The message on the TASKS queue: the id (everything else is read from D1), and on a resume
 * (ADR 0023) which attempt it is; the dispatcher asks the task's tracker where to resume from.
 */
export const TaskMessage = z.object({
  task_id: z.string().min(1).max(64),
  resume: z.object({ attempt: z.number().int().min(1).max(MAX_RESUMES) }).optional(),
});
export type TaskMessage = z.infer<typeof TaskMessage>;
