// The strategy lives in src/strategies/turn.ts; this path stays for the design card and older imports.
export * from "../src/strategies/turn.ts";
