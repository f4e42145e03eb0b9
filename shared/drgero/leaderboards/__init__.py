"""Leaderboards and their candidate models."""
