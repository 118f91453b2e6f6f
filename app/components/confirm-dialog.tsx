import { useEffect, useId, useRef, type ReactNode } from "react";

/**
 * A modal confirmation built on <dialog>: the browser traps focus inside it,
 * Escape cancels, and focus goes back to the caller's button (the caller
 * moves it in onCancel/onConfirm). The safe choice has focus first.
 */
export function ConfirmDialog({
  open,
  title,
  children,
  confirmLabel,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const titleId = useId();
  const bodyId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      d.showModal();
      cancelRef.current?.focus();
    } else if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className="dialog"
      aria-labelledby={titleId}
      aria-describedby={bodyId}
      onCancel={(e) => {
        e.preventDefault();
        onCancel();
      }}
      data-testid="confirm-dialog"
    >
      <h2 id={titleId}>{title}</h2>
      <p id={bodyId}>{children}</p>
      <div className="actions">
        <button ref={cancelRef} type="button" className="button" onClick={onCancel}>
          Keep it
        </button>
        <button type="button" className="button danger-solid" onClick={onConfirm} data-testid="confirm-delete">
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}
