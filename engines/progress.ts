// How a long step says how it is going while it runs: one line at a time, handed to whoever runs
// the step (the engine's log during `pulumi up`, stderr in a script, nothing in a unit test).

/** Receives progress lines; they never contain a secret. */
export type Progress = (line: string) => void;

/** Drops every line. */
export const quiet: Progress = () => undefined;

/**
 * A progress that passes on at most one line per `intervalMs` (the first always), for steps that
 * could say something every few milliseconds (a soak's probes, a gate's attempts).
 */
export function throttled(progress: Progress, intervalMs: number): (line: string | (() => string)) => void {
  let last = -Infinity;
  return (line) => {
    const now = performance.now();
    if (now - last < intervalMs) return;
    last = now;
    // A line given as a function is worked out only when it is passed on (a p95 sorts every sample).
    progress(typeof line === "function" ? line() : line);
  };
}

/** Runs `tick` every `intervalMs` while `work` runs (e.g. bytes a dump has written so far). */
export async function whileRunning<T>(work: Promise<T>, intervalMs: number, tick: () => void): Promise<T> {
  const timer = setInterval(tick, intervalMs);
  try {
    return await work;
  } finally {
    clearInterval(timer);
  }
}

/** Bytes in binary units, as operators read them: `512 B`, `3.2 MiB`, `1.04 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
