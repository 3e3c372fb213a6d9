// The release's services as a graph: the app (rollout:app) and the ones beside it
// (rollout:services), each starting after what it depends on. Pure.
import { APP_SERVICE, type RolloutConfig } from "./schema";

/** A service's name and what it depends on. */
interface Node {
  readonly name: string;
  readonly dependsOn: readonly string[];
}

/** The services' nodes: the app's first, then rollout:services in config order. */
function nodes(config: Pick<RolloutConfig, "app" | "services">): Node[] {
  return [{ name: APP_SERVICE, dependsOn: config.app.dependsOn }, ...config.services];
}

/**
 * What is wrong with the dependencies: a name that is no service, a service depending on itself, a
 * cycle. Each problem names the key, the value and the fix.
 */
export function serviceGraphProblems(config: Pick<RolloutConfig, "app" | "services">): string[] {
  const all = nodes(config);
  const names = new Set(all.map((n) => n.name));
  const keyOf = (n: Node) =>
    n.name === APP_SERVICE
      ? "rollout:app.dependsOn"
      : `rollout:services[${config.services.findIndex((s) => s.name === n.name)}].dependsOn`;
  const problems: string[] = [];
  for (const n of all) {
    for (const d of n.dependsOn) {
      if (d === n.name)
        problems.push(`${keyOf(n)} names ${n.name} itself. Fix: remove ${d} from its dependsOn.`);
      else if (!names.has(d))
        problems.push(
          `${keyOf(n)} names ${d}, which is no service of this stack (services: ${[...names].join(", ")}). Fix: add a service named ${d} to rollout:services, or remove it from dependsOn.`,
        );
    }
  }
  if (problems.length > 0) return problems;
  const cycle = findCycle(all);
  if (cycle)
    problems.push(
      `the services depend on each other in a circle: ${cycle.join(" -> ")}, so none of them could start first. Fix: remove one of these dependsOn entries.`,
    );
  return problems;
}

/** A dependency cycle as names (first name repeated at the end), or undefined. */
function findCycle(all: readonly Node[]): string[] | undefined {
  const byName = new Map(all.map((n) => [n.name, n]));
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === "done") return undefined;
    if (state.get(name) === "open") return [...path.slice(path.indexOf(name)), name];
    state.set(name, "open");
    path.push(name);
    for (const d of byName.get(name)?.dependsOn ?? []) {
      const found = visit(d);
      if (found) return found;
    }
    path.pop();
    state.set(name, "done");
    return undefined;
  };
  for (const n of all) {
    const found = visit(n.name);
    if (found) return found;
  }
  return undefined;
}

/**
 * The order the services start in: each after what it depends on, otherwise in config order (the
 * app first). The graph must have no problems (serviceGraphProblems).
 */
export function startOrder(config: Pick<RolloutConfig, "app" | "services">): string[] {
  const all = nodes(config);
  const byName = new Map(all.map((n) => [n.name, n]));
  const order: string[] = [];
  const placed = new Set<string>();
  const place = (name: string) => {
    if (placed.has(name)) return;
    placed.add(name);
    for (const d of byName.get(name)!.dependsOn) place(d);
    order.push(name);
  };
  for (const n of all) place(n.name);
  return order;
}
