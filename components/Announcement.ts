import * as pulumi from "@pulumi/pulumi";
import { sendNotification, type DeliveryResult, type Notification } from "./announce/webhook";
import { RunOnceComponent, runOnceProvider } from "./dynamic/runOnce";

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
export class Announcement extends RunOnceComponent<DeliveryResult> {
  constructor(name: string, args: AnnouncementArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "rollout:announce:Announcement",
      { typeName: "Announcement", provider, suffix: "send" },
      name,
      { ...args },
      opts,
    );
    this.result.apply((r) => {
      if (r && !r.delivered) {
        pulumi.log.warn(
          `the ${r.event} notification was not delivered (${r.detail}); the rollout goes on`,
          this,
        );
      }
    });
  }
}
