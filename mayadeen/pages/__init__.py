"""Page objects: a response in, plain data out (items, links, discovery entries); no requests."""
