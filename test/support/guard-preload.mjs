// The network guard for processes that must run as plain Node (a packed app in
// test/package.test.ts): tsx's scoped tsImport loads the guard's TypeScript
// without registering a loader for anything else, so the app still imports
// exactly what a user's Node would.
import { tsImport } from "tsx/esm/api";

await tsImport("./guard.ts", import.meta.url);
