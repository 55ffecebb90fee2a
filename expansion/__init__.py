"""Expansion engine: finds, scores and explains expansion revenue in a customer portfolio."""
