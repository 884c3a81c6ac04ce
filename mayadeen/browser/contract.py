"""What the browser's middlewares and its download handler share: meta keys, hosts, the failed render.

No Playwright here: every crawl loads the middlewares (``RenderMiddleware``, ``ChallengeMiddleware``)
and ``BrowserAddon``, and only a crawl with a browser needs Playwright (``mayadeen.browser.confine``).
"""

from __future__ import annotations

# The only third party a page may use, and only on the live site: Cloudflare's challenge frame.
CHALLENGE_HOSTS = frozenset({"challenges.cloudflare.com"})
CONFINEMENT_KEY = "mayadeen_confinement"  # meta: this render's Confinement (set by init_page)
PAGE_INIT_KEY = "mayadeen_page_init"  # meta: further init callbacks (dotted paths), run after ours
THIRD_PARTY_KEY = "mayadeen_third_party"  # meta: https hosts whose frames/scripts/fetches are allowed
REUSE_KEY = "mayadeen_reuse_page"  # meta: this render may take an idle page, and leave its page idle


class LeftOrigin(Exception):
    """A render whose page tried to leave its origin, or could not be confined: never a result."""
