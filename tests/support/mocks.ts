// Pulumi mocks that record every resource registration, for unit tests of the resource graph.
import * as pulumi from "@pulumi/pulumi";

export interface Registration {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}

/** Installs mocks and returns the live list of registrations. */
export function recordRegistrations(): Registration[] {
  const registrations: Registration[] = [];
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        registrations.push({ type: args.type, name: args.name, inputs: args.inputs });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "docker:index/remoteImage:RemoteImage") state.imageId = `sha256:${"b".repeat(64)}`;
        const dynamic = /^pulumi-nodejs:dynamic\/rollout:(\w+)$/.exec(args.type);
        if (dynamic) Object.assign(state, fakeRun(dynamic[1], args.inputs));
        return { id: `${args.name}-id`, state };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        return args.inputs;
      },
    },
    "rollout",
    "test",
    false,
  );
  return registrations;
}

const T0 = "2026-11-21T22:00:00.000Z";
const at = (seconds: number) => new Date(Date.parse(T0) + seconds * 1000).toISOString();

/** What each dynamic resource records after a passing run, with fixed times a second apart. */
function fakeRun(type: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const order = [
    "Preflight",
    "Announcement",
    "MaintenanceMode",
    "DatabaseBackup",
    "Schema",
    "HttpCheck",
    "SqlCheck",
    "LogCheck",
    "WebSocketCheck",
    "SmokeTest",
    "Soak",
  ];
  const slot = Math.max(0, order.indexOf(type)) * 10;
  const times = { startedAt: at(slot), finishedAt: at(slot + 1) };
  const spec = (inputs.spec ?? {}) as Record<string, unknown>;
  switch (type) {
    case "HttpCheck":
      return {
        ...times,
        result: {
          name: spec.name,
          url: spec.url,
          passed: true,
          expected: `status ${spec.expectStatus}`,
          status: spec.expectStatus,
          latencyMs: 3,
          attempts: 1,
          elapsedMs: 3,
          checkedAt: T0,
        },
      };
    case "SqlCheck":
      return {
        ...times,
        result: {
          name: spec.name,
          passed: true,
          expected: spec.expect,
          value: spec.expect,
          attempts: 1,
          latencyMs: 2,
          elapsedMs: 2,
        },
      };
    case "LogCheck":
      return {
        ...times,
        result: {
          name: spec.name,
          passed: true,
          expected: "no line matching /ERROR|FATAL/",
          lines: 3,
          since: at(0),
          attempts: 1,
          latencyMs: 5,
          elapsedMs: 5,
        },
      };
    case "WebSocketCheck":
      return {
        ...times,
        result: {
          name: spec.name,
          url: spec.url,
          passed: true,
          expected: "a first message",
          latencyMs: 5,
          attempts: 1,
          elapsedMs: 5,
        },
      };
    case "SmokeTest":
      return {
        ...times,
        result: {
          name: spec.name,
          passed: true,
          steps: [{ name: "login", method: "POST", path: "/login", status: 200, latencyMs: 5 }],
          elapsedMs: 5,
        },
      };
    case "Soak":
      return {
        ...times,
        result: {
          passed: true,
          probes: 20,
          errors: 0,
          errorRate: 0,
          p50Ms: 2,
          p95Ms: 4,
          maxMs: 5,
          durationMs: 5000,
        },
      };
    case "Command":
      return {
        ...times,
        result: {
          name: spec.name,
          purpose: "run",
          host: (spec.host as { kind: string }).kind === "local" ? "local" : "ssh://mock",
          exitCode: spec.expectExit,
          durationMs: 40,
          finishedAt: times.finishedAt,
          outputLines: 1,
          outputBytes: 3,
          outputTail: ["ok"],
          matched: spec.outputMustContain,
          absent: spec.outputMustNotContain,
        },
      };
    case "Preflight":
      return {
        ...times,
        result: { databaseVersion: "15.18", currentService: "healthy", gates: [], skippedGates: [] },
      };
    case "Announcement": {
      const n = inputs.notification as { event: string };
      return {
        ...times,
        result: { event: n.event, delivered: true, detail: "HTTP 200", latencyMs: 1, sentAt: T0 },
      };
    }
    case "MaintenanceMode":
      return { ...times, result: { state: inputs.state, outcome: "switched", status: 200, at: T0 } };
    case "DatabaseBackup":
      return {
        ...times,
        result: {
          path: "/backups/test/test_r_20261121T220000Z.dump",
          bytes: 4096,
          sha256: "c".repeat(64),
          tables: [],
          tableCount: 3,
          durationMs: 900,
          createdAt: T0,
          verified: true,
          restoreTested: true,
          pgDumpVersion: "15.18",
          removedByRetention: [],
          crashLeftovers: {
            removed: ["/backups/test/test_r_20261120T220000Z.dump.partial"],
            left: [
              {
                item: 'database "rollout_restore_test_0a1b2c3d_00112233aabb"',
                reason:
                  "restore-test scratch database with 1 connected session; drop it once they have ended",
                command: `psql 'host=127.0.0.1 port=55432 user=postgres dbname=rollout_dev sslmode=disable' -c 'DROP DATABASE "rollout_restore_test_0a1b2c3d_00112233aabb"'`,
              },
            ],
          },
        },
      };
    case "Schema":
      return {
        ...times,
        applied: [],
        version: inputs.target,
        lastRun: {
          direction: "up",
          applied: [{ id: inputs.target, name: `${inputs.target}_x`, durationMs: 5 }],
          reverted: [],
          version: inputs.target,
          durationMs: 5,
        },
      };
    case "ServicesCheck": {
      // Every service running, the health-checked ones healthy, as Docker would report them.
      const containers = (spec.containers ?? []) as { name: string; id: string }[];
      const healthChecked = (spec.healthChecked ?? []) as string[];
      const kept = (spec.kept ?? []) as string[];
      return {
        ...times,
        result: {
          passed: true,
          services: containers.map(({ name, id: container }) => ({
            name,
            container,
            status: "running",
            health: healthChecked.includes(name) ? "healthy" : null,
            startedAt: at(5),
            restarts: 0,
            imageId: `sha256:${"a".repeat(64)}`,
            kept: kept.includes(name),
          })),
          elapsedMs: 4,
        },
      };
    }
    case "ImageBuild":
      return {
        ...times,
        result: { imageId: `sha256:${"a".repeat(64)}`, outcome: "built", durationMs: 1000 },
      };
    case "DatabaseRestore":
      return { ...times, result: { durationMs: 1000, tablesRestored: 3, archives: [] } };
    case "MysqlAppUser":
      return {
        ...times,
        result: {
          user: inputs.user,
          database: (inputs.connection as { database?: string })?.database,
          privileges: [],
        },
      };
    case "Baseline":
      return { ...times, result: { measured: { probes: 20, errors: 0, errorRate: 0, p50Ms: 3, p95Ms: 4 } } };
    case "ReleaseMarker":
      return { previous: null };
    case "ReportFiles": {
      // The files are not written under mocks; the paths are the ones the step would write.
      const dir = inputs.dir as string;
      return {
        ...times,
        result: {
          dir,
          markdown: `${dir}/r-20261121T220000Z.md`,
          html: `${dir}/r-20261121T220000Z.html`,
          latestMarkdown: `${dir}/latest.md`,
          latestHtml: `${dir}/latest.html`,
          written: true,
        },
      };
    }
    default:
      return times;
  }
}

/** Resolves an Output's value in mock mode. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => resolve(v)));
}

// The marker Pulumi's wire format puts on secret values (sdk/nodejs/runtime/rpc.ts).
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

/** Splits a registered input into its value and whether it was sent as a secret. */
export function secretInput(input: unknown): { secret: boolean; value: unknown } {
  if (
    input !== null &&
    typeof input === "object" &&
    (input as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE
  ) {
    return { secret: true, value: (input as { value: unknown }).value };
  }
  return { secret: false, value: input };
}
