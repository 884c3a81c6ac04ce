"""Site-independent readers: each turns one layer of a parsed page into plain data.

``dom`` parses and indexes the page; ``meta``, ``jsonld``, ``tawsiyat`` and ``breadcrumbs`` read the
metadata layers; ``body``, ``media`` and ``cards`` read the visible page. They know no selectors of
any one site (those are arguments) and hand values over as the page has them (element texts as a
reader sees them): ``mayadeen.pages.article`` decides which layer each field is read from, and
``mayadeen.loaders`` normalises what it hands over.
"""
