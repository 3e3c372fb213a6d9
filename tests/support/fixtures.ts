import path from "node:path";

/** The repository root. */
export const ROOT = path.resolve(__dirname, "..", "..");

/** A valid raw config for the sample service, as Pulumi would hand it over. */
export function sampleRawConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    release: { id: "2026.11.21-1", image: "sample-app:1.0.0" },
    database: { host: "127.0.0.1", port: 55432, database: "rollout_dev", sslMode: "disable" },
    app: {
      name: "sample-app-test",
      port: 18181,
      databaseRole: "sample_app",
      build: {
        context: "sample-app",
        prepareCommand: "node build.mjs",
        prepareInputs: ["src", "build.mjs"],
        baseImage: "rollout/node-base:local",
      },
    },
    checks: [
      { name: "health", url: "http://127.0.0.1:18181/health", expectJson: { version: "{version}" } },
      { name: "health-db", url: "http://127.0.0.1:18181/health/db", expectJson: { status: "ok" } },
    ],
    ...overrides,
  };
}
