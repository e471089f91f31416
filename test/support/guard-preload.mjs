// The network guard as a preload (test/run.js puts it in every test process's
// NODE_OPTIONS; the demo, bench and fuzz scripts --import it). tsx's scoped
// tsImport loads the guard's TypeScript without registering a loader for
// anything else, so a packed app (test/package.test.ts) still imports exactly
// what a user's Node would. Loading guard.ts itself with --import next to tsx's
// loader could hang a child whose tsx cache was cold (the CLI's listen, in a
// fresh clone).
import { tsImport } from "tsx/esm/api";

await tsImport("./guard.ts", import.meta.url);
