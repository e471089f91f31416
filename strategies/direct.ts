// The strategy lives in src/strategies/direct.ts; this path stays for the design card and older imports.
export * from "../src/strategies/direct.ts";
