"""The profile lookup API: a caller's unified profile from AEP, fast, bounded in time, in our own shape."""
