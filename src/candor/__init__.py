"""candor: an open-source credit information system with due process and a tamper-evident log."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
