import { DurableObject } from "cloudflare:workers";

/** One per task: the task's live authority while it runs (DESIGN §2, §5). */
export class TaskTracker extends DurableObject<Env> {}
