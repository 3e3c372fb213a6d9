// Why each figure is what it is and where its floor lies, from profiling on this machine; shown
// under the figure in docs/benchmarks.md.
export const WHY: Record<string, string> = {};
