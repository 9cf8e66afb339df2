"""Incident records: incidents, people, organizations, places, legal actions, events, sources."""
