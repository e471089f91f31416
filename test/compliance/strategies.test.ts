// Every strategy against the one compliance suite (test/compliance/strategy.ts), on loopback.
import { directSpec, punchSpec, reverseSpec } from "./fixtures.ts";
import { strategyCompliance } from "./strategy.ts";
import { turnSpec } from "./turn-fixture.ts";

strategyCompliance(directSpec());
strategyCompliance(reverseSpec());
strategyCompliance(punchSpec());
strategyCompliance(turnSpec());
