// The strategy lives in src/strategies/reverse.ts; this path stays for the design card and older imports.
export * from "../src/strategies/reverse.ts";
