"""The spiders: each decides only what to fetch next; pages/ does the extraction."""
