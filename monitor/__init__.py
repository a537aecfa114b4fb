"""availmon: working-hours availability monitoring."""

__version__ = "0.1.0"
