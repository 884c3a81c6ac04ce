"""The mayadeen crawler: Al Mayadeen English item pages as exact, normalised records."""
