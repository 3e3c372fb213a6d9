export * from "./files";
export * from "./plan";
export * from "./runner";
export * from "./statements";
export * from "./lint";
export * from "./rehearse";
export * from "./repair";
export * from "./mysqlRunner";
