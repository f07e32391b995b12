"""uvshare: one set of uv-managed Pythons and tools, shared by the members of a Unix group."""

__version__ = "0.1.0"
__all__ = ["__version__"]
