export * from "./auth-schema";
export * from "./app-schema";
export * from "./security-schema";
