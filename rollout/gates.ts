// The gates that are judged when the program starts, before any resource exists: the maintenance
// window and the approvals. `up` refuses; preview only warns, so review can happen any time.
import * as pulumi from "@pulumi/pulumi";
import type { RolloutConfig } from "../config";
import { approvalProblems } from "../engines/gates/approvals";
import { evaluateWindow, type WindowVerdict } from "../engines/gates/maintenanceWindow";

/**
 * Refuses (update) or warns (preview) on an override for another release or past its expiry, on a
 * closed enforced window without an override and on every missing approval. A rollback has its own rules: outside the window it goes on with a written
 * reason, and the approvals of the release it goes back to held when that release ran. Returns the
 * window verdict for the report, when the stack has a window.
 */
export function judgeProgramGates(
  config: RolloutConfig,
  digest: string,
  when: { readonly now: Date; readonly dryRun: boolean },
  component: pulumi.Resource,
): WindowVerdict | undefined {
  const refuse = (problem: string, fix: string) => {
    if (when.dryRun) pulumi.log.warn(`${problem} (\`pulumi up\` will refuse). ${fix}`, component);
    else throw new pulumi.ResourceError(`${problem}. ${fix}`, component);
  };
  const { release, rollback } = config;
  pulumi.log.info(
    `release ${release.id} has digest ${digest} (approvals name its first 12 digits or more)`,
    component,
  );
  if (rollback && rollback.undoes === release.id) {
    throw new pulumi.ResourceError(
      `rollout:rollback says this update undoes release ${release.id}, which is the release it rolls out; ` +
        "rollout:rollback is written by `npm run rollback`: remove it (`pulumi config rm rollout:rollback`) and run the rollback again",
      component,
    );
  }
  // An override speaks for one release until it expires; a stale one is refused wherever it is
  // found, so it can never carry a later release past the window.
  let override = config.override;
  if (override) {
    const fix =
      `Set rollout:override.release to "${release.id}" and rollout:override.expires to a time ahead ` +
      "(ISO with a zone), or remove rollout:override (`pulumi config rm rollout:override`).";
    if (override.release !== release.id) {
      refuse(
        `refusing the override: rollout:override.release is "${override.release}", but the release is "${release.id}"`,
        fix,
      );
      override = undefined;
    } else if (Date.parse(override.expires) <= when.now.getTime()) {
      refuse(
        `refusing the override: rollout:override.expires is ${override.expires}, which has passed (it is now ${when.now.toISOString()})`,
        fix,
      );
      override = undefined;
    }
  }
  const verdict = config.window ? evaluateWindow(config.window, when.now) : undefined;
  if (verdict && !verdict.open && config.window?.enforce) {
    if (override) {
      pulumi.log.warn(
        `${verdict.summary}; overridden until ${override.expires}: ${override.reason}`,
        component,
      );
    } else if (rollback?.reason) {
      pulumi.log.warn(
        `${verdict.summary}; rolling back ${rollback.undoes} anyway: ${rollback.reason}`,
        component,
      );
    } else if (rollback) {
      refuse(
        `refusing to roll back ${rollback.undoes} outside the window without a reason: ${verdict.summary}`,
        "Give the reason: `npm run rollback -- --reason '<why>'` (it lands in the report and the notice).",
      );
    } else {
      refuse(
        `refusing to roll out: ${verdict.summary}`,
        "Wait for the window, or set rollout:override to {reason: a written reason (it lands in the report), " +
          `release: "${release.id}", expires: an ISO time with a zone}.`,
      );
    }
  }
  if (rollback) return verdict;
  for (const problem of approvalProblems(config.approvals.required, config.approvals.given, {
    id: release.id,
    digest,
  })) {
    refuse(`refusing to roll out: ${problem}`, "Record the approval, then run `pulumi up` again.");
  }
  return verdict;
}
