// The DJ-System job-approval API of the example, small on purpose: what the runbook's smoke tests
// and monitoring reach (health, jobs, approval, the approval flow admin page and its API) and the
// maintenance switch its rollback starts with ("stop new requests"). One source for its releases,
// whose differences follow the schema (see releases.ts).
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { Pool } from "pg";
import { releaseFor } from "./releases";

const version = process.env.APP_VERSION ?? "0.0.0-dev";
const release = releaseFor(version);
const port = Number(process.env.PORT ?? "8080");
const host = process.env.HOST ?? "127.0.0.1";
const maintenanceToken = process.env.MAINTENANCE_TOKEN ?? "";
// Kept in a file on a volume so the flag survives the container being replaced mid-rollout.
const maintenanceFile = process.env.MAINTENANCE_FILE ?? "/state/maintenance";
const pool = process.env.DATABASE_URL
  ? new Pool({ connectionString: process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 3000 })
  : undefined;

type Json = Record<string, unknown>;
interface User {
  id: number;
  role: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const inMaintenance = () => fs.existsSync(maintenanceFile);

function setMaintenance(on: boolean): void {
  if (on) {
    fs.mkdirSync(path.dirname(maintenanceFile), { recursive: true });
    fs.writeFileSync(maintenanceFile, new Date().toISOString());
  } else {
    fs.rmSync(maintenanceFile, { force: true });
  }
}

function send(res: http.ServerResponse, status: number, body?: unknown, type = "application/json"): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function tokenMatches(given: string | undefined, expected: string): boolean {
  if (!given || expected === "") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readJson(req: http.IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
    return value as Json;
  } catch {
    throw new HttpError(400, "the body must be a JSON object");
  }
}

function db(): Pool {
  if (!pool) throw new HttpError(503, "DATABASE_URL is not set");
  return pool;
}

/** A positive integer from a JSON number or a numeric string (smoke flows capture text). */
function id(value: unknown, field: string): number {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== "number" || !Number.isInteger(n) || n <= 0)
    throw new HttpError(400, `${field} must be a positive integer`);
  return n;
}

function hashPassword(password: string, salt = randomBytes(16).toString("hex")): string {
  return `${salt}:${scryptSync(password, salt, 32).toString("hex")}`;
}

async function login(body: Json): Promise<Json> {
  const { username, password } = body;
  if (typeof username !== "string" || typeof password !== "string")
    throw new HttpError(400, "username and password are required");
  const { rows } = await db().query<{ id: number; role: string; password_hash: string }>(
    "SELECT id, role, password_hash FROM users WHERE username = $1",
    [username],
  );
  const [salt] = rows[0]?.password_hash.split(":") ?? [""];
  if (rows.length === 0 || !tokenMatches(hashPassword(password, salt), rows[0].password_hash))
    throw new HttpError(401, "wrong username or password");
  const token = randomBytes(24).toString("hex");
  await db().query(
    "INSERT INTO sessions (token, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')",
    [token, rows[0].id],
  );
  return { token, userId: rows[0].id, role: rows[0].role };
}

async function authenticate(req: http.IncomingMessage): Promise<User> {
  const header = req.headers.authorization ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  const { rows } = await db().query<User>(
    "SELECT u.id, u.role FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = $1 AND s.expires_at > now()",
    [token],
  );
  if (rows.length === 0)
    throw new HttpError(401, "log in first (POST /api/login) and send the token as a bearer token");
  return rows[0];
}

function requireApprover(user: User): void {
  if (user.role !== "approver") throw new HttpError(403, "only an approver may do this");
}

const jobJson = (row: Json): Json => ({
  id: row.id,
  projectId: row.project_id,
  jobTypeId: row.job_type_id,
  subject: row.subject,
  status: row.status,
  assigneeId: row.assignee_id,
});

/** A new job's status and assignee, from the approval flow of its project and job type. */
async function routeJob(projectId: number, jobTypeId: number): Promise<[string, number | null]> {
  if (release.dataLayer === "v2") {
    const { rows } = await db().query(
      "SELECT template_id FROM project_flow_assignments WHERE project_id = $1 AND job_type_id = $2",
      [projectId, jobTypeId],
    );
    if (rows.length === 0)
      throw new HttpError(400, `project ${projectId} has no flow for job type ${jobTypeId}`);
    return ["pending_approval", null];
  }
  const { rows } = await db().query<{ skip_approval: boolean; auto_assign_user_id: number | null }>(
    "SELECT skip_approval, auto_assign_user_id FROM approval_flows WHERE project_id = $1 AND job_type_id = $2",
    [projectId, jobTypeId],
  );
  if (rows.length === 0)
    throw new HttpError(400, `project ${projectId} has no flow for job type ${jobTypeId}`);
  return rows[0].skip_approval ? ["assigned", rows[0].auto_assign_user_id] : ["pending_approval", null];
}

async function createJob(user: User, body: Json): Promise<Json> {
  const projectId = id(body.projectId, "projectId");
  const jobTypeId = id(body.jobTypeId, "jobTypeId");
  if (typeof body.subject !== "string" || body.subject === "")
    throw new HttpError(400, "subject is required");
  const [status, assigneeId] = await routeJob(projectId, jobTypeId);
  const { rows } = await db().query(
    `INSERT INTO jobs (project_id, job_type_id, subject, due_date, status, requester_id, assignee_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
    [projectId, jobTypeId, body.subject, body.dueDate ?? null, status, user.id, assigneeId],
  );
  return jobJson(rows[0]);
}

async function approveJob(user: User, jobId: number, body: Json): Promise<Json> {
  requireApprover(user);
  const { rows } = await db().query(
    `UPDATE jobs SET status = 'approved', approved_by = $2, approval_comment = $3
     WHERE id = $1 AND status = 'pending_approval' RETURNING *`,
    [jobId, user.id, typeof body.comment === "string" ? body.comment : null],
  );
  if (rows.length === 0) throw new HttpError(409, `job ${jobId} does not exist or is not pending approval`);
  return { success: true, job: jobJson(rows[0]) };
}

/** Sets the extended V1 flow of a project's job type (the runbook sets it up in the UI). */
async function putFlow(user: User, body: Json): Promise<Json> {
  requireApprover(user);
  const projectId = id(body.projectId, "projectId");
  const jobTypeId = id(body.jobTypeId, "jobTypeId");
  const skip = body.skipApproval === true;
  const assignee = skip ? id(body.autoAssignUserId, "autoAssignUserId") : null;
  const { rows } = await db().query(
    `INSERT INTO approval_flows (project_id, name, job_type_id, skip_approval, auto_assign_type, auto_assign_user_id)
     VALUES ($1, $6, $2, $3, $4, $5)
     ON CONFLICT (project_id, job_type_id) DO UPDATE
       SET skip_approval = EXCLUDED.skip_approval, auto_assign_type = EXCLUDED.auto_assign_type,
           auto_assign_user_id = EXCLUDED.auto_assign_user_id
     RETURNING *`,
    [
      projectId,
      jobTypeId,
      skip,
      skip ? "specific_user" : "manual",
      assignee,
      `Flow for job type ${jobTypeId}`,
    ],
  );
  const row = rows[0] as Json;
  return { id: row.id, projectId, jobTypeId, skipApproval: row.skip_approval, autoAssignUserId: assignee };
}

/** The approval flow admin page: the runbook's "Admin > Approval Flow" in its simplest form. */
function adminPage(): string {
  const controls =
    release.api === "v2"
      ? `<h2>Approval templates</h2><p>Templates and their steps are assigned per project.</p>`
      : `<h2>Approval Flow</h2>
<label>Job Type <select id="job-type"></select></label>
<label><input type="checkbox" id="skip-approval"> Skip Approval</label>`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>DJ-System ${version}</title></head>
<body><h1>DJ-System admin</h1>${controls}</body></html>
`;
}

async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const method = req.method ?? "GET";
  const url = (req.url ?? "/").split("?")[0];
  const read = method === "GET" || method === "HEAD";
  if (read && url === "/api/health") {
    try {
      await db().query("SELECT 1");
      return send(res, 200, { status: "ok", version, maintenance: inMaintenance(), database: "ok" });
    } catch (err) {
      console.error(`ERROR database health: ${(err as Error).message}`);
      return send(res, 503, { status: "error", version, database: (err as Error).message });
    }
  }
  if (url === "/admin/maintenance") {
    if (!tokenMatches(req.headers.authorization?.replace(/^Bearer /, ""), maintenanceToken))
      throw new HttpError(401, "a valid bearer token is required");
    if (method === "PUT") setMaintenance(true);
    else if (method === "DELETE") setMaintenance(false);
    else if (method !== "GET") throw new HttpError(405, "use GET, PUT or DELETE");
    return send(res, 200, { maintenance: inMaintenance() });
  }
  // The list monitoring times (the runbook's `time curl -s .../api/jobs`) only reads, so it answers
  // in maintenance too, as the health does.
  if (read && url === "/api/jobs") {
    const { rows } = await db().query("SELECT * FROM jobs ORDER BY id DESC LIMIT 50");
    return send(res, 200, rows.map(jobJson));
  }
  // In maintenance ("stop new requests") only the rollout's own checks get through, with the bypass header.
  const bypass = tokenMatches(req.headers["x-maintenance-bypass"] as string | undefined, maintenanceToken);
  if (inMaintenance() && !bypass) return send(res, 503, { error: "down for maintenance" });

  if (read && url === "/") return send(res, 200, adminPage(), "text/html; charset=utf-8");
  if (method === "POST" && url === "/api/login") return send(res, 200, await login(await readJson(req)));
  if (method === "POST" && url === "/api/jobs") {
    const user = await authenticate(req);
    return send(res, 201, await createJob(user, await readJson(req)));
  }
  const approve = /^\/api\/jobs\/(\d+)\/approve$/.exec(url);
  if (method === "POST" && approve) {
    const user = await authenticate(req);
    return send(res, 200, await approveJob(user, Number(approve[1]), await readJson(req)));
  }
  if (release.api === "v2" && read && url === "/api/approval-templates") {
    await authenticate(req);
    const { rows } = await db().query("SELECT id, name FROM approval_flow_templates ORDER BY id");
    return send(res, 200, rows);
  }
  if (release.api === "v1-extended" && method === "PUT" && url === "/api/approval-flows") {
    const user = await authenticate(req);
    return send(res, 200, await putFlow(user, await readJson(req)));
  }
  throw new HttpError(404, `no route for ${method} ${url}`);
}

/** Creates the configured users if missing, so smoke tests can log in: a requester and an approver. */
async function seedUsers(): Promise<void> {
  await seedUser(process.env.SEED_USER, process.env.SEED_PASSWORD, "requester");
  await seedUser(process.env.SEED_APPROVER, process.env.SEED_APPROVER_PASSWORD, "approver");
}

async function seedUser(
  username: string | undefined,
  password: string | undefined,
  role: string,
): Promise<void> {
  if (!pool || !username || !password) return;
  try {
    await pool.query(
      `INSERT INTO users (username, password_hash, role) VALUES ($1, $2, $3)
       ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role`,
      [username, hashPassword(password), role],
    );
  } catch (err) {
    console.error(`ERROR could not seed user ${username}: ${(err as Error).message}`);
  }
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err: Error) => {
    if (err instanceof HttpError) return send(res, err.status, { error: err.message });
    console.error(`ERROR ${req.method} ${req.url}: ${err.message}`);
    send(res, 500, { error: err.message });
  });
});

void seedUsers().then(() =>
  server.listen(port, host, () => {
    console.log(`dj-system ${version} listening on http://${host}:${port} (schema ${release.requires})`);
  }),
);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close(() => {
      void (pool ? pool.end() : Promise.resolve()).finally(() => process.exit(0));
    });
  });
}
