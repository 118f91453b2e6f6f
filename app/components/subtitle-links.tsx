/** Subtitle downloads (ADR 0021): SRT and WebVTT, built by the API from the generation's word timings. */
export function SubtitleLinks({
  srtUrl,
  downloadName,
  className = "button",
}: {
  srtUrl: string;
  downloadName?: string;
  className?: string;
}) {
  const vttUrl = srtUrl.replace(/\.srt$/, ".vtt");
  const base = downloadName ? downloadName.replace(/\.(wav|mp3)$/, "") : undefined;
  return (
    <>
      <a className={className} href={srtUrl} download={base ? `${base}.srt` : true} data-testid="download-srt">
        SRT
      </a>
      <a className={className} href={vttUrl} download={base ? `${base}.vtt` : true} data-testid="download-vtt">
        VTT
      </a>
    </>
  );
}
