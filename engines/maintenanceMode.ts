// Maintenance mode over HTTP: one authenticated call to switch it on or off (one URL by method, or
// separate enable and disable URLs; the caller picks the URL and method). No Pulumi inside.

export interface MaintenanceCall {
  readonly url: string;
  readonly method: string;
  /** Bearer token (a secret); sent, never reported. */
  readonly token: string;
  readonly timeoutMs: number;
  /**
   * When nothing answers (a first install has no service yet), record that and go on instead of
   * failing. @default false
   */
  readonly allowUnreachable: boolean;
}

export interface MaintenanceResult {
  readonly state: "on" | "off";
  /**
   * "switched" when the service answered 2xx; "unreachable" when nothing listened and that is
   * allowed; "skipped" when a rollback found the release being undone not answering.
   */
  readonly outcome: "switched" | "unreachable" | "skipped";
  readonly status?: number;
  readonly at: string;
  /** Why a rollback went on without switching. */
  readonly detail?: string;
}

/** The rules a switch runs by. */
export interface MaintenancePolicy {
  /**
   * A rollback: switching on must not block it when the release being undone does not answer or
   * answers 5xx (it has crashed); that is recorded and the rollback goes on.
   */
  readonly rollback: boolean;
  /** The config key holding the token, for messages (a refused token names it). */
  readonly tokenKey: string;
}

/** Calls the maintenance endpoint; throws naming the URL, method and what came back. */
export async function switchMaintenance(
  call: MaintenanceCall,
  state: "on" | "off",
  policy: MaintenancePolicy,
): Promise<MaintenanceResult> {
  const emergency = policy.rollback && state === "on";
  const at = new Date().toISOString();
  let response: Response;
  try {
    response = await fetch(call.url, {
      method: call.method,
      headers: { authorization: `Bearer ${call.token}` },
      signal: AbortSignal.timeout(call.timeoutMs),
    });
  } catch (err) {
    const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    if (call.allowUnreachable && code === "ECONNREFUSED") return { state, outcome: "unreachable", at };
    if (emergency) return { state, outcome: "skipped", at, detail: `no response (${code})` };
    throw new Error(
      `maintenance mode ${state} failed: ${call.method} ${call.url} got no response (${code}); ` +
        (state === "on"
          ? "the rollout has not changed anything yet; bring the service up or fix rollout:maintenance"
          : "the release is deployed but still in maintenance; switch it off by hand or run `pulumi up` again"),
      { cause: err },
    );
  }
  const body = (await response.text()).slice(0, 200);
  if (emergency && response.status >= 500) {
    return { state, outcome: "skipped", status: response.status, at, detail: `answered ${response.status}` };
  }
  if (!response.ok) {
    throw new Error(
      `maintenance mode ${state} failed: ${call.method} ${call.url} expected a 2xx answer, got ${response.status} ` +
        `${JSON.stringify(body)}` +
        (response.status === 401 || response.status === 403 ? `; check ${policy.tokenKey}` : ""),
    );
  }
  return { state, outcome: "switched", status: response.status, at };
}
