"""Live capture: a phone records, sends chunks as it records, and the vault keeps every chunk.

The device holds a one-use capture link (no account); each chunk is hashed, stored, chained to the
previous one and ledgered before it is acknowledged, so a phone taken at minute 25 still leaves a
verifiable recording of the first 25 minutes.
"""
