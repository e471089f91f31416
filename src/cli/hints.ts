/**
 * What to do next, added to the operating system's errors a server command
 * meets when it opens its port: the error keeps its code (EADDRINUSE, or the
 * p2pnode code that wraps it), its message says which flag to change.
 */
type OsError = NodeJS.ErrnoException;

/** The error to print for a failed listen/bind: the same code, a message that names the way out. */
export function listenHint(err: unknown): unknown {
  const outer = err as OsError | undefined;
  const os = [outer, outer?.cause as OsError | undefined].find((e) => typeof e?.syscall === "string");
  if (!outer || !os) return err;
  let next: string | undefined;
  if (os.code === "EADDRINUSE") next = "is another server running there? Choose another --port, or --port 0 for any free port";
  else if (os.code === "EACCES") next = "ports below 1024 need root or CAP_NET_BIND_SERVICE: choose a --port of 1024 or more";
  else if (os.code === "EADDRNOTAVAIL") next = "that is not an address of this machine: check --host (`ip addr` lists them)";
  if (!next) return err;
  return Object.assign(new Error(`${outer.message}; ${next}`, { cause: err }), { code: outer.code });
}
