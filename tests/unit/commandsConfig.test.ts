// The config of command steps: its defaults, and a refusal naming the key, the value and the fix
// for each kind of bad value.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../config";
import { configProblems, minimalRawConfig } from "../support/fixtures";

const secrets = { databasePassword: true, appDatabasePassword: true, sshKey: true, smokePassword: true };
const withCommands = (...commands: Record<string, unknown>[]) => minimalRawConfig({ commands });

describe("rollout:commands", () => {
  it("fills the defaults: local, every release, exit 0, five minutes", () => {
    const config = loadConfig(
      "dev",
      withCommands({ name: "pm2-restart", at: "afterServices", run: "pm2 restart app" }),
      secrets,
    );
    assert.deepEqual(config.commands, [
      {
        name: "pm2-restart",
        at: "afterServices",
        run: "pm2 restart app",
        env: {},
        secretEnv: {},
        host: "local",
        sshKeySecret: undefined,
        timeoutSeconds: 300,
        expectExit: 0,
        outputMustContain: [],
        outputMustNotContain: [],
        runsWhen: "everyRelease",
      },
    ]);
    assert.deepEqual(loadConfig("dev", minimalRawConfig(), secrets).commands, []);
  });

  it("takes the SSH key from rollout:sshKey unless sshKeySecret names another key", () => {
    const config = loadConfig(
      "dev",
      withCommands({
        name: "unit",
        at: "afterChecks",
        run: ["systemctl", "--user", "restart", "worker"],
        host: "ssh://deploy@10.0.0.5:2222",
        knownHosts: "ops/known_hosts",
        revert: ["systemctl", "--user", "stop", "worker"],
        runsWhen: "onChange",
      }),
      secrets,
    );
    assert.equal(config.commands[0].sshKeySecret, "sshKey");
  });

  const cases: {
    name: string;
    commands: Record<string, unknown>[];
    secrets?: Record<string, boolean>;
    expect: string[];
  }[] = [
    {
      name: "an unknown point and an empty argv",
      commands: [
        { name: "gen", at: "afterBackup", run: [] },
        { name: "gen2", at: "afterSchema", run: 5 },
      ],
      expect: [
        'rollout:commands[0].at is invalid (expected one of "beforeBackup"|"afterSchema"|"afterServices"|"afterChecks"): got "afterBackup". Fix: set it with `pulumi config set --path \'rollout:commands[0].at\' <value>`.',
        'rollout:commands[0].run is invalid (an argv array needs at least the program, e.g. ["npx", "prisma", "generate"]): got []. Fix: set it with `pulumi config set --path \'rollout:commands[0].run\' <value>`.',
        'rollout:commands[1].run is invalid (must be a command string (run with /bin/sh -c) or an argv array such as ["npx", "prisma", "generate"]): got 5. Fix: set it with `pulumi config set --path \'rollout:commands[1].run\' <value>`.',
      ],
    },
    {
      name: "a pattern that is not a regular expression, and an exit code out of range",
      commands: [
        {
          name: "review",
          at: "afterSchema",
          run: "alembic upgrade head --sql",
          outputMustContain: ["(BEGIN"],
          expectExit: 300,
        },
      ],
      expect: [
        "rollout:commands[0].expectExit is invalid (Too big: expected number to be <=255): got 300. Fix: set it with `pulumi config set --path 'rollout:commands[0].expectExit' <value>`.",
        "rollout:commands[0].outputMustContain[0] is invalid (is not a regular expression (Invalid regular expression: /(BEGIN/: Unterminated group)): got \"(BEGIN\". Fix: set it with `pulumi config set --path 'rollout:commands[0].outputMustContain[0]' <value>`.",
      ],
    },
    {
      name: "a host that is neither local nor ssh://, and SSH settings on a local command",
      commands: [
        { name: "a", at: "afterServices", run: "true", host: "deploy@10.0.0.5" },
        { name: "b", at: "afterServices", run: "true", sshKeySecret: "sshKey", knownHosts: "k" },
      ],
      expect: [
        'rollout:commands[0].host is invalid (must be "local" or "ssh://user@host:port" (port 22 when left out)): got "deploy@10.0.0.5". Fix: set it with `pulumi config set --path \'rollout:commands[0].host\' <value>`.',
        'rollout:commands[1].sshKeySecret is invalid (is only for a command over SSH; remove it or set host to "ssh://user@host:port"): got "sshKey". Fix: set it with `pulumi config set --path \'rollout:commands[1].sshKeySecret\' <value>`.',
        'rollout:commands[1].knownHosts is invalid (is only for a command over SSH; remove it or set host to "ssh://user@host:port"): got "k". Fix: set it with `pulumi config set --path \'rollout:commands[1].knownHosts\' <value>`.',
      ],
    },
    {
      name: "an SSH command without knownHosts, and two commands of one name",
      commands: [
        { name: "a", at: "afterServices", run: "true", host: "ssh://deploy@10.0.0.5" },
        { name: "a", at: "afterChecks", run: "true" },
      ],
      expect: [
        "rollout:commands[0].knownHosts is missing. Fix: set it with `pulumi config set --path 'rollout:commands[0].knownHosts' <value>`.",
        "rollout:commands[1].name is invalid (is used by another command; each command needs its own name): got \"a\". Fix: set it with `pulumi config set --path 'rollout:commands[1].name' <value>`.",
      ],
    },
    {
      name: "secrets the stack lacks or that are not secret keys",
      commands: [
        {
          name: "a",
          at: "afterServices",
          run: "true",
          secretEnv: { TOKEN: "apiToken", PASS: "smokePassword" },
          host: "ssh://d@h",
          knownHosts: "k",
        },
      ],
      secrets: { databasePassword: true, appDatabasePassword: true },
      expect: [
        "rollout:commands[0].secretEnv.TOKEN refers to secret `apiToken`, which is not a secret key; use one of: databasePassword, appDatabasePassword, maintenanceToken, webhookUrl, smokePassword, s3AccessKey, s3SecretKey, sshKey.",
        "rollout:smokePassword is missing (rollout:commands[0].secretEnv.PASS refers to it). Fix: `pulumi config set --secret rollout:smokePassword <value>`.",
        "rollout:sshKey is missing (rollout:commands[0].sshKeySecret refers to it). Fix: `pulumi config set --secret rollout:sshKey <value>`.",
      ],
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}, naming the key, the value and the fix`, () => {
      assert.deepEqual(
        configProblems(withCommands(...c.commands), c.secrets ?? secrets).sort(),
        [...c.expect].sort(),
      );
    });
  }
});
