"""One crawl spread over several worker processes or machines, through Redis (``MAYADEEN_REDIS_URL``).

``addon`` turns it on; ``scheduler`` is what Scrapy talks to; ``crawl`` (start, join, seed, end),
``queue`` (leased requests), ``budget`` (one politeness budget for the site), ``acks`` (when a request
is finished), ``robots``, ``seeding`` and ``heartbeat`` are its parts; ``link`` is the connection,
every Redis call in a thread of its own (never on the reactor), which waits out Redis restarts;
``keys`` names every Redis key; ``timing`` bounds every wait for Redis within the lease TTL.
"""
