"""The store: where records, revisions and runs are kept, and what it answers about them."""
