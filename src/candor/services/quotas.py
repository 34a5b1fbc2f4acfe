"""Per-client rate limits and the daily bulk-check allowance.

Rates use the `limits` library's sliding-window counter (constant time per request) in this
process's memory by default; with several API servers side by side, point
``CANDOR_RATE_LIMIT_STORAGE`` at a shared store (``redis://…``) so that the limit holds across
them. The daily bulk allowance is counted in candor's own store, so it always holds across
servers and restarts.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, date, datetime, timedelta

from limits import RateLimitItem, RateLimitItemPerMinute, storage, strategies

from candor.domain.access import Principal, Role
from candor.errors import TooManyRequests
from candor.store import Store
from candor.store import clients as rows


class Quotas:
    def __init__(
        self,
        store: Store,
        *,
        rate_per_minute: int,
        public_rate_per_minute: int,
        bulk_per_day: int,
        storage_uri: str = "memory://",
    ) -> None:
        self.store = store
        self.rate_per_minute = rate_per_minute
        self.public_rate_per_minute = public_rate_per_minute
        self.bulk_per_day = bulk_per_day
        self._limiter = strategies.SlidingWindowCounterRateLimiter(
            storage.storage_from_string(storage_uri)
        )
        self._items: dict[int, RateLimitItem] = {}

    def _item(self, per_minute: int) -> RateLimitItem:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return item

    def hit(self, principal: Principal, remote: str) -> None:
        """Count one request. The public is limited per address, a client per client.

        Raises:
            TooManyRequests: over the limit, with the seconds until a request will be let in.
        """
        if principal.role is Role.PUBLIC:
            key, per_minute = ("public", remote), self.public_rate_per_minute
        else:
            key = ("client", principal.name)
            per_minute = principal.rate_per_minute or self.rate_per_minute
        item = self._item(per_minute)
        if self._limiter.hit(item, *key):
            return
        reset = self._limiter.get_window_stats(item, *key).reset_time
        raise TooManyRequests(
            f"more than {per_minute:,} requests a minute; slow down",
            retry_after=math.ceil(reset - time.time()),
        )

    def count_bulk(self, principal: Principal, identifiers: int, today: date) -> int:
        """Count a bulk request's identifiers against the client's day (UTC). Returns the day's
        total so far.

        Raises:
            TooManyRequests: the request would pass the daily allowance; nothing is counted.
        """
        assert principal.client_id is not None
        cap = principal.bulk_per_day or self.bulk_per_day
        with self.store.write() as conn:
            total = rows.add_bulk_usage(conn, principal.client_id, today, identifiers, cap)
        if total is None:
            midnight = datetime.combine(today + timedelta(days=1), datetime.min.time(), UTC)
            raise TooManyRequests(
                f"this request's {identifiers:,} identifiers would pass client "
                f"{principal.name!r}'s allowance of {cap:,} identifiers checked in bulk a day",
                retry_after=math.ceil((midnight - datetime.now(UTC)).total_seconds()),
            )
        return total
