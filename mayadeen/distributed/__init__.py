"""One crawl spread over several worker processes or machines, through Redis (``MAYADEEN_REDIS_URL``).

``addon`` turns it on; ``scheduler`` is what Scrapy talks to; ``crawl`` (start, join, seed, end),
``queue`` (leased requests), ``budget`` (one politeness budget for the site), ``acks`` (when a request
is finished), ``robots`` and ``seeding`` are its parts; ``link`` is the connection that survives
Redis restarts; ``keys`` names every Redis key.
"""
