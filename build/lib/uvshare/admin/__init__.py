"""uvshare's own commands, under `uvshare share …`: the only place plumbum is imported."""
