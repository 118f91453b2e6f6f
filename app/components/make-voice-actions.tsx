import { Link } from "@remix-run/react";

/** The two ways to get a voice, offered wherever a page needs one. */
export function MakeVoiceActions() {
  return (
    <div className="actions">
      <Link className="button primary" to="/clone">
        Clone a voice
      </Link>
      <Link className="button" to="/design">
        Design a voice
      </Link>
    </div>
  );
}
