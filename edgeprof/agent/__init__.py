"""The on-device agent: stdlib, numpy, psutil when present, and one runtime. Never imports the rest of edgeprof."""

AGENT_VERSION = "1"
