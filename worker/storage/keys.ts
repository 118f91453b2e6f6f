/**
 * R2 object keys. Every key starts with its owner's id (DESIGN §7), so a key
 * built for one user can never name another user's object.
 */
export const audioKeys = {
  reference: (userId: string, voiceId: string) => `users/${userId}/voices/${voiceId}/reference`,
  segment: (userId: string, taskId: string, index: number) => `users/${userId}/tasks/${taskId}/segments/${index}.wav`,
  segmentsPrefix: (userId: string, taskId: string) => `users/${userId}/tasks/${taskId}/segments/`,
  generation: (userId: string, generationId: string) => `users/${userId}/generations/${generationId}.wav`,
  preview: (userId: string, taskId: string) => `users/${userId}/previews/${taskId}.wav`,
};

/** Where the owner fetches any artifact (ADR 0009). */
export const artifactUrl = (taskId: string, kind: string, index: number | null) =>
  index === null ? `/api/tasks/${taskId}/artifacts/${kind}` : `/api/tasks/${taskId}/artifacts/${kind}/${index}`;

export const audioUrls = {
  segment: (taskId: string, index: number) => `/api/tasks/${taskId}/segments/${index}`,
  /** The preferred take's audio (ADR 0022). */
  generation: (generationId: string) => `/api/generations/${generationId}/audio`,
  /** One take's audio, whichever is preferred. */
  generationTake: (generationId: string, take: number) => `/api/generations/${generationId}/audio?take=${take}`,
  preview: (taskId: string) => `/api/tasks/${taskId}/audio`,
};
