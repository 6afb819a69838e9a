"""Offline verification of a trail and of a daily pack (the exam package, which bundles the
outputs of every sibling layer, is checked in compliance.verify_exam)."""
