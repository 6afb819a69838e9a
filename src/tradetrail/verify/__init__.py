"""Offline verification of a trail, a daily pack and an examination package."""
