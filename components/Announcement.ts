import * as pulumi from "@pulumi/pulumi";
import { sendNotification, type DeliveryResult, type Notification } from "./announce/webhook";
import { RunOnce, runOnceProvider } from "./dynamic/runOnce";

export interface AnnouncementArgs {
  /** Secret: the webhook URL (Slack-compatible). */
  readonly webhookUrl: pulumi.Input<string>;
  readonly notification: pulumi.Input<Notification>;
  readonly timeoutMs: number;
}

const provider = runOnceProvider(
  async (inputs: { webhookUrl: string; notification: Notification; timeoutMs: number }) =>
    sendNotification(inputs.webhookUrl, inputs.notification, inputs.timeoutMs),
);

/**
 * A webhook notification sent once per release (start or success). An endpoint that is down does
 * not stop the rollout: the delivery outcome is recorded, reported and logged as a warning.
 */
export class Announcement extends pulumi.ComponentResource {
  readonly result: pulumi.Output<DeliveryResult>;
  readonly finishedAt: pulumi.Output<string>;

  constructor(name: string, args: AnnouncementArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollout:announce:Announcement", name, {}, opts);
    const run = new RunOnce<DeliveryResult>(
      "Announcement",
      provider,
      `${name}-send`,
      { ...args },
      { parent: this },
    );
    this.result = run.result;
    this.finishedAt = run.finishedAt;
    this.result.apply((r) => {
      if (r && !r.delivered) {
        pulumi.log.warn(
          `the ${r.event} notification was not delivered (${r.detail}); the rollout goes on`,
          this,
        );
      }
    });
    this.registerOutputs({ result: this.result });
  }
}
