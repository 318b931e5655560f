"""Scorers and online learners behind one small interface."""
