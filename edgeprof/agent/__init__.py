"""The on-device agent: stdlib, numpy, psutil when present, and one runtime. Never imports the rest of edgeprof."""

AGENT_VERSION = "1"
MIN_PYTHON = (3, 8)  # checked by the zipapp entry before anything else is imported
