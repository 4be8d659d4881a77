"""lockgen: one hash-checked PEP 751 lock per hardware variant, and the right one on every machine."""

__version__ = "0.4.0"
