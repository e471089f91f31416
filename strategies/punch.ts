// The strategy lives in src/strategies/punch.ts; this path stays for the design card and older imports.
export * from "../src/strategies/punch.ts";
