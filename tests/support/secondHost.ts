// The second Docker host that local-env/dockerhost.sh starts in a network namespace (its own
// dockerd, sshd on 198.18.0.2, key login only): where it is, its key, and the docker CLI on its
// engine's socket directly, the tests' own view of it rather than the code under test's.
import { execFileSync } from "node:child_process";
import fs from "node:fs";

/** The second host, from `local-env/dockerhost.sh env`. */
export function secondHost() {
  const keys = [
    "ROLLOUT_H2_DOCKER_HOST",
    "ROLLOUT_H2_ADDR",
    "ROLLOUT_H2_KEY",
    "ROLLOUT_H2_KNOWN_HOSTS",
    "ROLLOUT_H2_SOCKET",
  ];
  const missing = keys.filter((k) => !process.env[k]);
  if (missing.length > 0) {
    throw new Error(
      `this test needs ${missing.join(", ")}; run it through \`npm test\` (scripts/test.sh), or: eval "$(bash local-env/dockerhost.sh env)"`,
    );
  }
  const env = process.env as Record<string, string>;
  return {
    url: env.ROLLOUT_H2_DOCKER_HOST,
    addr: env.ROLLOUT_H2_ADDR,
    privateKey: fs.readFileSync(env.ROLLOUT_H2_KEY, "utf8"),
    hostKey: fs.readFileSync(env.ROLLOUT_H2_KNOWN_HOSTS, "utf8").trim().split(/\s+/).slice(1, 3).join(" "),
    socket: env.ROLLOUT_H2_SOCKET,
  };
}

/** The docker CLI on the second engine's socket. */
export const onH2 = (...args: string[]) =>
  execFileSync("docker", ["-H", `unix://${secondHost().socket}`, ...args], { encoding: "utf8" }).trim();

/** Removes containers and volumes of a test from the second host; absent ones are fine. */
export function removeFromH2(containers: string[], volumes: string[] = []): void {
  for (const args of [
    ...containers.map((c) => ["rm", "-f", c]),
    ...volumes.map((v) => ["volume", "rm", "-f", v]),
  ]) {
    try {
      execFileSync("docker", ["-H", `unix://${secondHost().socket}`, ...args], { stdio: "ignore" });
    } catch {
      // already gone
    }
  }
}
