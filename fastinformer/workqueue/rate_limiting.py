"""A delaying work queue whose retries are paced by a rate limiter (``add_rate_limited``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastinformer._compat import core

if TYPE_CHECKING:
    from fastinformer._core_py import RateLimitingQueue
else:
    RateLimitingQueue = core.RateLimitingQueue

__all__ = ["RateLimitingQueue"]
