"""The fixture server with Cloudflare-style challenges in front of chosen URLs.

``ChallengeServer(challenges={"/news/health": "403"})`` answers ``/news/health`` with a challenge page
until the request carries the clearance cookie; every other path is answered as usual. Modes:

``"403"``
    status 403 with Cloudflare's headers (``cf-mitigated: challenge``, ``server: cloudflare``, ``cf-ray``)
    and a "Just a moment..." page whose script sets ``cf_clearance`` and reloads, as the real one does
    after its checks;
``"200"``
    the same page and script with status 200 and no Cloudflare headers (a challenge served in place of
    the article);
``"never"``
    a 403 challenge whose script never clears: no browser gets past it.

One clearance cookie clears every challenged path (as Cloudflare's cookie does for the whole zone),
except ``"never"`` ones.
"""

from __future__ import annotations

from http.cookies import SimpleCookie

from tests.fixture_server import Answer, FixtureServer, write_answer

CLEARANCE_COOKIE = "cf_clearance"
CLEARANCE_TOKEN = "fixture-clearance-7f3a9c"

CHALLENGE_PAGE = """<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta http-equiv="X-UA-Compatible" content="IE=Edge"><meta name="robots" content="noindex,nofollow">
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>*{box-sizing:border-box;margin:0;padding:0}html{line-height:1.15;font-family:system-ui}</style>
</head><body class="no-js"><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">english.almayadeen.net</h1>
<h2 class="h2" id="challenge-running">Verifying you are human. This may take a few seconds.</h2>
<noscript><div class="h2"><span id="challenge-error-text">Enable JavaScript and cookies to continue</span></div></noscript>
</div></div>
<script>(function(){window._cf_chl_opt={cvId:'3',cZone:"english.almayadeen.net",cType:'managed',
cRay:'8f2c1d0e9a7b6c5d',cH:'Xq9',cUPMDTk:"%(path)s",cFPWv:'b',cITimeS:'1754310600',
cTplV:5,cTplB:'cf',cK:"",fa:"%(path)s",md:'fixture',cRq:{ru:'',ra:'',rm:'R0VU',d:'',t:'MTc1NDMxMDYwMA==',
cT:Math.floor(Date.now()/1000),m:'',i1:'',i2:'',zh:'',uh:'',hh:''}};
var src='/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8f2c1d0e9a7b6c5d';
%(solve)s
}());</script></body></html>
"""

# What the real challenge does after its checks: store the clearance and load the page again.
SOLVE = """setTimeout(function () {
  document.cookie = '%s=%s; path=/; SameSite=Lax';
  window.location.reload();
}, 150);""" % (CLEARANCE_COOKIE, CLEARANCE_TOKEN)
NEVER = "/* this challenge never clears */"

CLOUDFLARE_HEADERS = {
    "cf-mitigated": "challenge",
    "Server": "cloudflare",
    "CF-RAY": "8f2c1d0e9a7b6c5d-BEY",
    "Cache-Control": "private, max-age=0, no-store, no-cache, must-revalidate, post-check=0, pre-check=0",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def challenge_answer(path: str, mode: str) -> Answer:
    body = CHALLENGE_PAGE % {"path": path, "solve": NEVER if mode == "never" else SOLVE}
    status, headers = (200, {}) if mode == "200" else (403, dict(CLOUDFLARE_HEADERS))
    return Answer(status, "text/html; charset=UTF-8", body.encode("utf-8"), headers)


def has_clearance(headers) -> bool:
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get("Cookie", "") or "")
    except Exception:  # a malformed Cookie header clears nothing
        return False
    morsel = cookie.get(CLEARANCE_COOKIE)
    return morsel is not None and morsel.value == CLEARANCE_TOKEN


def is_browser(headers) -> bool:
    """Chromium sends Fetch Metadata headers; Scrapy does not."""
    return "Sec-Fetch-Mode" in headers


class ChallengeServer(FixtureServer):
    """A FixtureServer whose ``challenges`` (path without query -> mode) stand behind a challenge."""

    def __init__(self, *args, challenges: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.challenges = dict(challenges or {})
        self.challenged: list[str] = []  # paths answered with a challenge page, in order

    def handle(self, handler, answer: Answer) -> None:
        path = handler.path.split("?", 1)[0]
        mode = self.challenges.get(path)
        if mode and (mode == "never" or not has_clearance(handler.headers)):
            with self._lock:
                self.challenged.append(handler.path)
            answer = challenge_answer(handler.path, mode)
        write_answer(handler, answer)
