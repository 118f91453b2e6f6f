export { createAudioInspector, inspectAudioStream, type AudioInspector } from "./inspector";
export { AudioInspectionError, type AudioInspectionErrorCode } from "./inspection-error";
export { sniffAudioFormat, SNIFF_BYTES } from "./sniff";
export { AUDIO_MIME, type AudioFormat, type AudioInfo } from "./types";
