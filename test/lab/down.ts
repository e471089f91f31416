/**
 * `npm run lab:down`: removes every `p2pn-` namespace and kills the processes
 * recorded in the lab's pid file (only processes the lab started, by PID).
 */
import { cleanLeftovers } from "./lab.ts";
import { PID_FILE } from "./procs.ts";

const { namespaces, killed } = await cleanLeftovers();
console.log(`lab down: killed ${killed} recorded process(es) (${PID_FILE}), removed ${namespaces.length} namespace(s)${namespaces.length ? ": " + namespaces.join(" ") : ""}`);
