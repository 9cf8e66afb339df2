"""Sharing evidence outward: bundles, reports, trusted timestamps, exports."""
