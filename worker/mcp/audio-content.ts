/** Audio small enough to hand an MCP client inline; larger files are left to the link. */
export const INLINE_AUDIO_MAX_BYTES = 4 * 1024 * 1024;
