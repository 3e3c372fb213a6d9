export * from "./types";
export * from "./build";
export * from "./format";
export * from "./markdown";
export * from "./html";
export * from "./notice";
export * from "./files";
