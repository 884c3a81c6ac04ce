"""Downloader middlewares: mirror, retries and backoff, Retry-After, integrity, content sniffing, URL guard."""
