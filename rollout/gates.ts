// The gates that are judged when the program starts, before any resource exists: the maintenance
// window and the approvals. `up` refuses; preview only warns, so review can happen any time.
import * as pulumi from "@pulumi/pulumi";
import type { RolloutConfig } from "../config";
import { approvalProblems } from "../engines/gates/approvals";
import { evaluateWindow, type WindowVerdict } from "../engines/gates/maintenanceWindow";

/**
 * Refuses (update) or warns (preview) on a closed enforced window without an override and on every
 * missing approval. Returns the window verdict for the report, when the stack has a window.
 */
export function judgeProgramGates(
  config: RolloutConfig,
  when: { readonly now: Date; readonly dryRun: boolean },
  component: pulumi.Resource,
): WindowVerdict | undefined {
  const refuse = (problem: string, fix: string) => {
    if (when.dryRun) pulumi.log.warn(`${problem} (\`pulumi up\` will refuse). ${fix}`, component);
    else throw new pulumi.ResourceError(`${problem}. ${fix}`, component);
  };
  const verdict = config.window ? evaluateWindow(config.window, when.now) : undefined;
  if (verdict && !verdict.open && config.window?.enforce) {
    if (config.override) {
      pulumi.log.warn(`${verdict.summary}; overridden: ${config.override.reason}`, component);
    } else {
      refuse(
        `refusing to roll out: ${verdict.summary}`,
        "Wait for the window, or set rollout:override.reason to a written reason (it lands in the report).",
      );
    }
  }
  for (const problem of approvalProblems(
    config.approvals.required,
    config.approvals.given,
    config.release.id,
  )) {
    refuse(`refusing to roll out: ${problem}`, "Record the approval, then run `pulumi up` again.");
  }
  return verdict;
}
