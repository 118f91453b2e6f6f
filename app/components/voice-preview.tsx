import { WaveformPlayer } from "./waveform-player";

/** A voice's reference recording as a compact player that starts at once ("Listen" / "Preview" buttons). */
export function VoicePreview({ voice }: { voice: { audio_url: string; name: string; duration_ms: number } }) {
  return (
    <WaveformPlayer
      url={voice.audio_url}
      label={`Reference recording of ${voice.name}`}
      durationMs={voice.duration_ms}
      autoPlay
      height={48}
    />
  );
}
