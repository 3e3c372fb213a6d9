import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, imageTag, loadConfig } from "../../config";
import { minimalRawConfig } from "../support/fixtures";

const allSecrets = { databasePassword: true, appDatabasePassword: true };

function problemsOf(raw: Record<string, unknown>, secrets: Record<string, boolean> = allSecrets): string[] {
  try {
    loadConfig("dev", raw, secrets);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the config to be rejected");
}

describe("loadConfig", () => {
  it("accepts the sample config and fills defaults", () => {
    const config = loadConfig("dev", minimalRawConfig(), allSecrets);
    assert.equal(config.database.adminUser, "postgres");
    assert.equal(config.app.restart, "unless-stopped");
    assert.equal(config.app.build?.dockerfile, "Dockerfile");
    assert.equal(config.docker.host, "unix:///var/run/docker.sock");
    assert.deepEqual(config.checks[0], {
      name: "health",
      url: "http://127.0.0.1:18181/health",
      method: "GET",
      expectStatus: 200,
      expectJson: { version: "{version}" },
      latencyBudgetMs: 1000,
      retries: 10,
      retryIntervalMs: 1000,
      deadlineSeconds: 60,
    });
  });

  const cases: {
    name: string;
    raw: Record<string, unknown>;
    secrets?: Record<string, boolean>;
    expect: string[];
  }[] = [
    {
      name: "missing key",
      raw: { ...minimalRawConfig(), release: undefined },
      expect: [
        "rollout:release is missing. Fix: set it in Pulumi.<stack>.yaml or with `pulumi config set --path 'rollout:release' ...` (see Pulumi.yaml for its shape).",
      ],
    },
    {
      name: "wrong type",
      raw: minimalRawConfig({ database: { database: "rollout_dev", port: "fifty" } }),
      expect: [
        "rollout:database.port is invalid (expected number, received string): got \"fifty\". Fix: set it with `pulumi config set --path 'rollout:database.port' <value>`.",
      ],
    },
    {
      name: "out of range and unknown key",
      raw: minimalRawConfig({ database: { database: "rollout_dev", port: 70000, passwrod: "x" } }),
      expect: [
        "rollout:database.port is invalid (Too big: expected number to be <=65535): got 70000. Fix: set it with `pulumi config set --path 'rollout:database.port' <value>`.",
        "rollout:database.passwrod is not a known setting. Fix: remove it (check the spelling against Pulumi.yaml).",
      ],
    },
    {
      name: "bad enum inside an array element",
      raw: minimalRawConfig({
        checks: [{ name: "health", url: "http://127.0.0.1:1/health", method: "FETCH" }],
      }),
      expect: [
        'rollout:checks[0].method is invalid (expected one of "GET"|"HEAD"|"POST"|"PUT"|"PATCH"|"DELETE"): got "FETCH". Fix: set it with `pulumi config set --path \'rollout:checks[0].method\' <value>`.',
      ],
    },
    {
      name: "missing secret",
      raw: minimalRawConfig(),
      secrets: { databasePassword: true },
      expect: [
        "rollout:appDatabasePassword is missing (every stack needs it). Fix: `pulumi config set --secret rollout:appDatabasePassword <value>`.",
      ],
    },
    {
      name: "a secret that config refers to but the stack lacks, and an unknown secret key",
      raw: minimalRawConfig({
        app: {
          ...(minimalRawConfig().app as object),
          secretEnv: { MAINTENANCE_TOKEN: "maintenanceToken", API_KEY: "apiKey" },
        },
      }),
      expect: [
        "rollout:maintenanceToken is missing (rollout:app.secretEnv.MAINTENANCE_TOKEN refers to it). Fix: `pulumi config set --secret rollout:maintenanceToken <value>`.",
        "rollout:app.secretEnv.API_KEY refers to secret `apiKey`, which is not a secret key; use one of: databasePassword, appDatabasePassword, maintenanceToken, webhookUrl, smokePassword.",
      ],
    },
    {
      name: "a maintenance window in an unknown time zone",
      raw: minimalRawConfig({
        window: { days: ["tue"], start: "22:00", end: "02:00", timeZone: "Mars/Olympus" },
      }),
      expect: [
        'rollout:window.timeZone is invalid (timeZone "Mars/Olympus" is not an IANA time zone; use a name such as "America/New_York" or "Asia/Bangkok"): got "Mars/Olympus". Fix: set it with `pulumi config set --path \'rollout:window.timeZone\' <value>`.',
      ],
    },
    {
      name: "a wrong weekday",
      raw: minimalRawConfig({ window: { days: ["tuesday"], start: "22:00", end: "02:00", timeZone: "UTC" } }),
      expect: [
        'rollout:window.days[0] is invalid (expected one of "mon"|"tue"|"wed"|"thu"|"fri"|"sat"|"sun"): got "tuesday". Fix: set it with `pulumi config set --path \'rollout:window.days[0]\' <value>`.',
      ],
    },
  ];
  for (const c of cases) {
    it(`rejects ${c.name} with a message naming the key, the value and the fix`, () => {
      assert.deepEqual(problemsOf(c.raw, c.secrets), c.expect);
    });
  }

  it("reports every problem at once, with the stack in the heading", () => {
    try {
      loadConfig("prod", { release: { id: "" } }, {});
      assert.fail("expected rejection");
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(
        err.message,
        /^stack config for `prod` is invalid \(6 problems\):\n {2}- rollout:release.id/,
      );
      assert.equal(err.problems.length, 6);
    }
  });
});

describe("imageTag", () => {
  const cases: [string, string | undefined][] = [
    ["sample-app:1.1.0", "1.1.0"],
    ["registry.example.com:5000/team/app:2.0", "2.0"],
    ["registry.example.com:5000/team/app", undefined],
    ["app@sha256:abcd", undefined],
    ["app", undefined],
  ];
  for (const [image, tag] of cases) {
    it(`${image} -> ${tag}`, () => assert.equal(imageTag(image), tag));
  }
});
