"""Testigo: evidence of enforcement encounters that a court can trust and anyone can verify."""

__version__ = "0.1.0"
