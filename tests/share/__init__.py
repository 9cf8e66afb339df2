"""Tests for sharing evidence outward: trusted timestamps and what builds on them."""
