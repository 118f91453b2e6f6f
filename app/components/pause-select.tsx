import { useId } from "react";

/** The pause between sentences (ms) a generation may ask for; "" leaves it to the voice (engine protocol "Joins"). */
export const PAUSE_CHOICES = [
  { value: "", label: "Natural (the voice's own)" },
  { value: "0", label: "None" },
  { value: "200", label: "Short (0.2 s)" },
  { value: "400", label: "Medium (0.4 s)" },
  { value: "800", label: "Long (0.8 s)" },
] as const;

export function PauseSelect({ value, onChange }: { value: string; onChange: (value: string) => void }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>Pauses</label>
      <select id={id} name="pause_ms" value={value} onChange={(e) => onChange(e.target.value)} aria-describedby={`${id}-hint`}>
        {PAUSE_CHOICES.map((c) => (
          <option key={c.value} value={c.value}>
            {c.label}
          </option>
        ))}
      </select>
      <p id={`${id}-hint`} className="hint">
        Between sentences; twice as long at a blank line.
      </p>
    </div>
  );
}
