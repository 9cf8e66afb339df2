"""The evidence vault: content-addressed blobs, the append-only ledger, keys and verification."""
