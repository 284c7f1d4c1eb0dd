"""BagIt (RFC 8493) rules: where the bag is in the archive, and what its tag files say."""
