// A release's identity is its content, not its label: the release value plus what it deploys (the
// image reference and the sources it is built from, the migrations up to its target, the service
// and host config). The digest keys the once-per-release steps and is what approvals name.
import { createHash } from "node:crypto";
import { canonical } from "../components";
import { APP_SERVICE, type RolloutConfig } from "../config";
import type { Migration } from "../engines/migrations";

/** Hex SHA-256 of what the release deploys. */
export function releaseDigest(
  config: RolloutConfig,
  migrations: readonly Migration[] | undefined,
  sourceHashes: Record<string, string>,
): string {
  const { [APP_SERVICE]: sourceHash, ...others } = sourceHashes;
  const target = config.release.schemaTarget;
  const content = {
    release: config.release,
    migrations: (migrations ?? [])
      .filter((m) => target !== undefined && m.id <= target)
      .map((m) => [m.id, m.checksum]),
    // An empty dependsOn is left out, so a stack from before services keeps its digests.
    app: appSettings(config.app),
    // The host only: how this machine logs in to it (key, pinned host key) is not deployed content.
    docker: { host: config.docker.host },
    sourceHash: sourceHash ?? null,
    // Only with services, so a stack without any keeps the digests its approvals name.
    ...(config.services.length > 0 ? { services: config.services, serviceSources: others } : {}),
  };
  return createHash("sha256").update(canonical(content)).digest("hex");
}

/** The app's settings as the digest reads them: an empty `dependsOn` is as if not there. */
function appSettings(app: RolloutConfig["app"]): Partial<RolloutConfig["app"]> {
  const { dependsOn, ...rest } = app;
  return dependsOn.length > 0 ? app : rest;
}
