// Loaded with --import before every test file: no test may reach beyond loopback (or its own lab).
import { installNetGuardFromEnv } from "./net-guard.ts";
installNetGuardFromEnv();
