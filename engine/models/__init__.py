"""The networks: one model per file, each with its config dataclass at the top."""
