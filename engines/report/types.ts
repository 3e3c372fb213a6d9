// The shape of the rollout report: what was released, what gated it, what each step found and how
// long each phase took. The graph builds it (rollout/report.ts); the renderers and the notices read
// it. Pure data, so the report files can be written inside a dynamic provider.
import type { CopyResult, LeftoverCleanup } from "../backup";
import type { CommandPoint } from "../commands";
import type { PreflightResult } from "../checks/preflight";
import type { SoakResult } from "../checks/soak";
import type { WindowVerdict } from "../gates/maintenanceWindow";
import type { MaintenanceResult } from "../maintenanceMode";
import type { DeliveryResult } from "../notify";

/** One timed step of the rollout. */
export interface PhaseTiming {
  readonly phase: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly seconds: number;
}

/** One check that gated the release: what it expected, what it saw and how long the answer took. */
export interface CheckReport {
  readonly name: string;
  readonly kind: "http" | "sql" | "logs" | "websocket";
  readonly passed: boolean;
  /** HTTP: status, JSON fields, body text and latency budget; SQL: the expected value. */
  readonly expected: string;
  readonly observed: string;
  readonly latencyMs: number;
  readonly attempts: number;
}

/** One command step: where it ran, what it gave and the last lines of its output (scrubbed of secrets). */
export interface CommandReport {
  readonly name: string;
  readonly at: CommandPoint;
  /** `local` or `ssh://user@host:port`. */
  readonly host: string;
  readonly exitCode: number;
  readonly seconds: number;
  readonly finishedAt: string;
  readonly outputLines: number;
  readonly outputTail: readonly string[];
  /** Patterns that matched a line (outputMustContain) and that matched none (outputMustNotContain). */
  readonly matched: readonly string[];
  readonly absent: readonly string[];
}

/** The rollout report: what was released, what gated it, and how long each part took. */
export interface RolloutReport {
  readonly release: {
    readonly id: string;
    /** What approvals name: the digest of the release's content. */
    readonly digest: string;
    readonly image: string;
    readonly schemaTarget?: string;
    readonly stack: string;
  };
  /** Set when this update rolled back: what it undid, why, and the backup it restored. */
  readonly rollback: {
    readonly undoes: string;
    readonly toUpdate: number;
    readonly reason: string | null;
    readonly restored: {
      readonly path: string;
      readonly tablesRestored: number;
      /** Directories restored from their archives: where, and the files they hold again. */
      readonly archives: readonly {
        readonly name: string;
        readonly target: string;
        readonly files: number;
      }[];
    } | null;
  } | null;
  readonly gates: {
    readonly window: (Omit<WindowVerdict, "minutes"> & { readonly enforced: boolean }) | null;
    readonly override: string | null;
    readonly approvals: { readonly required: string[]; readonly given: { role: string; by: string }[] };
  };
  readonly preflight: PreflightResult;
  readonly announcements: Record<string, DeliveryResult>;
  readonly maintenance: { readonly on: MaintenanceResult; readonly off: MaintenanceResult } | null;
  readonly backup: {
    readonly path: string;
    readonly bytes: number;
    readonly sha256: string;
    readonly tableCount: number;
    readonly restoreTested: boolean;
    readonly durationMs: number;
    /** What killed runs had left, removed by this backup or left with the command that removes it. */
    readonly crashLeftovers: LeftoverCleanup;
    /** Each copy in another place (backup.copies): where, its key or path, and whether it was verified. */
    readonly copies: readonly Pick<CopyResult, "location" | "key" | "bytes" | "sha256" | "verified">[];
    /** Each directory archive (backup.archives): what it holds, where it is, and its copies. */
    readonly archives: readonly {
      readonly name: string;
      readonly source: string;
      readonly path: string;
      readonly bytes: number;
      readonly sha256: string;
      readonly files: number;
      readonly fileBytes: number;
      readonly copies: readonly Pick<CopyResult, "location" | "key" | "bytes" | "sha256" | "verified">[];
    }[];
  } | null;
  readonly schema: {
    readonly version: string;
    readonly direction: string;
    readonly applied: string[];
    readonly reverted: string[];
  } | null;
  readonly image: { readonly before: string | null; readonly after: string; readonly id: string };
  readonly containers: Record<string, string>;
  /** Every service in start order: its image before and after, and its state after the release. */
  readonly services: ServiceReport[];
  readonly checks: CheckReport[];
  readonly smokeTests: {
    readonly name: string;
    readonly steps: { name: string; status: number; latencyMs: number; latencyBudgetMs?: number }[];
  }[];
  readonly soak: SoakResult | null;
  /** The command steps in the order they ran (by point, then config order). */
  readonly commands: readonly CommandReport[];
  readonly phases: PhaseTiming[];
}

/** One service of the release in the report. */
export interface ServiceReport {
  readonly name: string;
  /** The image reference the previous release ran; null on a first install or for a new service. */
  readonly imageBefore: string | null;
  readonly image: string;
  readonly imageId: string;
  readonly container: string;
  /** Docker's state and health after the release, e.g. `running`, `running, healthy`. */
  readonly state: string;
  /** When the container started, as Docker records it. */
  readonly startedAt: string;
  /** Long-lived: kept across releases. */
  readonly kept: boolean;
}
