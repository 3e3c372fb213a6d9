// One `pulumi up` as the commands run it: streamed, cancellable with Ctrl-C or SIGTERM (the engine
// stops cleanly and releases the stack's lock), and judged by what it changed: a run that failed
// before any resource changed (a closed window, a missing approval, a config error, a held lock) is a
// refusal, not a failed rollout, and needs no rollback.
import { ConcurrentUpdateError, type EngineEvent, type Stack } from "@pulumi/pulumi/automation";

export type UpOutcome =
  | { readonly kind: "succeeded"; readonly outputs: Record<string, unknown> }
  | { readonly kind: "refused"; readonly reason: string }
  | { readonly kind: "locked"; readonly reason: string }
  | { readonly kind: "failed"; readonly reason: string }
  | { readonly kind: "cancelled"; readonly reason: string };

const CHANGING_OPS = new Set([
  "create",
  "update",
  "delete",
  "replace",
  "create-replacement",
  "delete-replaced",
]);

/** The engine's first error line (the diagnostic), not the CLI's whole output. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const diagnostic = /error: (.+)/.exec(text);
  return (diagnostic ? diagnostic[1] : text).split("\n")[0].slice(0, 400);
}

/** Runs `up`; `onSignal` hears of Ctrl-C/SIGTERM while it runs. Never throws for an update's failure. */
export async function runUp(
  stack: Stack,
  message: string,
  onSignal: (signal: NodeJS.Signals) => void = () => undefined,
): Promise<UpOutcome> {
  const abort = new AbortController();
  let cancelledBy: NodeJS.Signals | undefined;
  const stop = (signal: NodeJS.Signals) => {
    if (cancelledBy) return;
    cancelledBy = signal;
    onSignal(signal);
    abort.abort();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  let changed = false;
  const onEvent = (event: EngineEvent) => {
    // Only a change that happened counts: a step that failed (a preflight, say) changed nothing.
    const op = event.resOutputsEvent?.metadata.op;
    if (op && CHANGING_OPS.has(op)) changed = true;
  };
  try {
    const result = await stack.up({
      message,
      onOutput: (out) => process.stdout.write(out),
      onEvent,
      signal: abort.signal,
    });
    return {
      kind: "succeeded",
      outputs: Object.fromEntries(Object.entries(result.outputs).map(([k, v]) => [k, v.value])),
    };
  } catch (err) {
    if (cancelledBy) return { kind: "cancelled", reason: `cancelled by ${cancelledBy}` };
    if (err instanceof ConcurrentUpdateError) return { kind: "locked", reason: firstLine(err) };
    return { kind: changed ? "failed" : "refused", reason: firstLine(err) };
  } finally {
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}
