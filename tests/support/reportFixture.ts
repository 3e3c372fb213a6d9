// A whole rollout report, shaped as rollout/report.ts builds it, for the renderer and page tests.
// Values an operator writes (an override reason, an expected JSON value, a value an SQL check saw)
// hold markup on purpose: the renderers must show them as text.
import type { RolloutReport } from "../../engines/report";

/** Text that would be markup if a renderer let it through. */
export const HOSTILE = `<script>alert("x")</script> | *not bold* & [link](http://127.0.0.1:1/)`;

const T0 = Date.parse("2026-11-21T22:00:00.000Z");
const at = (seconds: number) => new Date(T0 + seconds * 1000).toISOString();
const phase = (name: string, from: number, to: number) => ({
  phase: name,
  startedAt: at(from),
  finishedAt: at(to),
  seconds: to - from,
});

export function fixtureReport(): RolloutReport {
  return {
    release: {
      id: "2026.11.21-1",
      digest: "ead1ae2cad7bb903147c87953f4703a4b741e0ebe68ba064634fc1f0e7e2aa51",
      image: "sample-app:1.1.0",
      schemaTarget: "0003",
      stack: "prod",
    },
    rollback: null,
    gates: {
      window: {
        open: true,
        opensAt: "2026-11-21T22:00:00.000-05:00",
        closesAt: "2026-11-22T02:00:00.000-05:00",
        summary: "inside the maintenance window (sat 22:00-02:00 America/New_York), 240 minutes left",
        enforced: true,
      },
      override: `run early: ${HOSTILE}`,
      approvals: {
        required: ["tech-lead", "dba"],
        given: [
          { role: "tech-lead", by: "alice" },
          { role: "dba", by: "bob" },
        ],
      },
    },
    preflight: { databaseVersion: "15.18", currentService: "healthy", gates: [], skippedGates: [] },
    announcements: {},
    maintenance: {
      on: { state: "on", outcome: "switched", status: 200, at: at(0.2) },
      off: { state: "off", outcome: "switched", status: 200, at: at(6.1) },
    },
    backup: {
      path: "/var/backups/rollout/prod/prod_2026.11.21-1_20261121T220000Z.dump",
      bytes: 1_468_006,
      sha256: "9f8e".repeat(16),
      tableCount: 4,
      restoreTested: true,
      durationMs: 900,
      crashLeftovers: { removed: [], left: [] },
      copies: [],
      archives: [],
    },
    schema: { version: "0003", direction: "up", applied: ["0003_add_item_status"], reverted: [] },
    image: { before: "sample-app:1.0.0", after: "sample-app:1.1.0", id: `sha256:${"a".repeat(64)}` },
    containers: { app: "4f1c0e9d2b7a" },
    services: [
      {
        name: "app",
        imageBefore: "sample-app:1.0.0",
        image: "sample-app:1.1.0",
        imageId: "sha256:" + "ab".repeat(32),
        container: "4f1c0e9d2b7a",
        state: "running, healthy",
        startedAt: at(3),
        kept: false,
      },
    ],
    checks: [
      {
        name: "health",
        kind: "http",
        passed: true,
        expected: `status 200, status="ok", version="1.1.0", within 1000 ms`,
        observed: "HTTP 200",
        latencyMs: 12,
        attempts: 1,
      },
      {
        name: "odd-value",
        kind: "sql",
        passed: true,
        expected: HOSTILE,
        observed: HOSTILE,
        latencyMs: 3,
        attempts: 2,
      },
    ],
    smokeTests: [
      {
        name: "crud",
        steps: [
          { name: "login", status: 200, latencyMs: 9 },
          { name: "create", status: 201, latencyMs: 7 },
        ],
      },
    ],
    soak: {
      passed: true,
      probes: 25,
      errors: 0,
      errorRate: 0,
      p50Ms: 2,
      p95Ms: 4,
      maxMs: 6,
      durationMs: 5000,
    },
    commands: [
      {
        name: "pm2-status",
        at: "afterServices",
        host: "ssh://deploy@10.0.0.5:22",
        exitCode: 0,
        seconds: 0.4,
        finishedAt: at(4.4),
        outputLines: 2,
        outputTail: ["app online", `\`\`\` ${HOSTILE}`],
        matched: ["online"],
        absent: ["errored"],
      },
    ],
    phases: [
      phase("preflight", 0, 0.1),
      phase("maintenance on", 0.1, 0.2),
      phase("backup", 0.2, 1.1),
      phase("schema", 1.1, 1.2),
      phase("database objects and containers", 1.2, 4.3),
      phase("checks and smoke tests", 4.3, 5.6),
      phase("maintenance off", 5.6, 5.7),
      phase("soak", 5.7, 10.9),
    ],
  };
}
