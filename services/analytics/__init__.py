"""Analytics over the request log (SPEC §7): raw-row queries, hourly rollups, retention
and feedback insights. Every function takes an explicit `Scope`; none reads the request."""
