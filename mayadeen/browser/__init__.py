"""The browser: headless Chromium for client-side listings and challenge pages (scrapy-playwright)."""
