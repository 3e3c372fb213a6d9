// Soak: after maintenance is off, keep calling the health endpoints for a while and fail on the
// thresholds the runbooks name (error rate, p95 latency). No Pulumi inside.
import { quiet, throttled, type Progress } from "../progress";

export interface SoakSpec {
  /** URLs probed in turn; a probe passes on a 2xx answer. */
  readonly urls: readonly string[];
  readonly durationSeconds: number;
  readonly intervalMs: number;
  /** Fail when failed probes / all probes exceeds this (0.05 = 5 %). */
  readonly maxErrorRate: number;
  /** Fail when the 95th percentile latency exceeds this. */
  readonly maxP95Ms: number;
  readonly requestTimeoutMs: number;
}

export interface SoakResult {
  readonly passed: true;
  readonly probes: number;
  readonly errors: number;
  readonly errorRate: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly maxMs: number;
  readonly durationMs: number;
}

/** The p-th percentile (0-100) by nearest rank; 0 for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Judges collected probes against the thresholds; returns the breaches, empty when within them. */
export function soakBreaches(spec: SoakSpec, latencies: readonly number[], errors: number): string[] {
  const probes = latencies.length;
  const breaches: string[] = [];
  const errorRate = probes === 0 ? 1 : errors / probes;
  if (errorRate > spec.maxErrorRate) {
    breaches.push(
      `error rate ${(errorRate * 100).toFixed(1)} % (${errors} of ${probes} probes) is over ${(spec.maxErrorRate * 100).toFixed(1)} %`,
    );
  }
  const p95 = percentile(latencies, 95);
  if (p95 > spec.maxP95Ms) breaches.push(`p95 latency ${p95} ms is over ${spec.maxP95Ms} ms`);
  return breaches;
}

/** Probes until the duration has passed, then judges; throws with the figures on a breach. */
export async function runSoak(spec: SoakSpec, progress: Progress = quiet): Promise<SoakResult> {
  const started = performance.now();
  const latencies: number[] = [];
  const failures: string[] = [];
  let errors = 0;
  let i = 0;
  const report = throttled(progress, 5000);
  do {
    const url = spec.urls[i++ % spec.urls.length];
    const probeStarted = performance.now();
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(spec.requestTimeoutMs) });
      await response.arrayBuffer();
      if (response.status < 200 || response.status > 299) {
        errors++;
        failures.push(`${url} -> ${response.status}`);
      }
    } catch (err) {
      errors++;
      failures.push(`${url} -> ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name}`);
    }
    latencies.push(Math.round(performance.now() - probeStarted));
    report(
      () =>
        `soak: ${Math.round((performance.now() - started) / 1000)} s of ${spec.durationSeconds} s, ` +
        `${latencies.length} probes, ${errors} errors (${((errors / latencies.length) * 100).toFixed(1)} %), ` +
        `p95 ${percentile(latencies, 95)} ms so far`,
    );
    await new Promise((resolve) => setTimeout(resolve, spec.intervalMs));
  } while (performance.now() - started < spec.durationSeconds * 1000);

  const breaches = soakBreaches(spec, latencies, errors);
  const errorRate = errors / latencies.length;
  if (breaches.length > 0) {
    const seen = [...new Set(failures)].slice(0, 5).join(", ");
    throw new Error(
      `soak failed after ${spec.durationSeconds} s: ${breaches.join("; ")}` +
        (seen ? ` (failures seen: ${seen})` : "") +
        `. The release is live and out of maintenance: roll back (npm run rollback) or fix forward.`,
    );
  }
  return {
    passed: true,
    probes: latencies.length,
    errors,
    errorRate,
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
    maxMs: Math.max(...latencies),
    durationMs: Math.round(performance.now() - started),
  };
}
