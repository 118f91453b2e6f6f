import { useId } from "react";

export interface Language {
  code: string;
  name: string;
}

export function LanguageSelect({
  languages,
  value,
  onChange,
  name = "language",
  label = "Language",
  hint,
}: {
  languages: readonly Language[];
  value: string;
  onChange: (code: string) => void;
  name?: string;
  label?: string;
  hint?: string;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select
        id={id}
        name={name}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        aria-describedby={hint ? `${id}-hint` : undefined}
      >
        {languages.map((l) => (
          <option key={l.code} value={l.code}>
            {l.name}
          </option>
        ))}
      </select>
      {hint ? (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      ) : null}
    </div>
  );
}
