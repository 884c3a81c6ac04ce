"""The WARC archive of what the crawler fetched, and re-extraction of records from it."""
