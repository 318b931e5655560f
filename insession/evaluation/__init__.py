"""Evaluating policies off-line: the Open Bandit Dataset estimators, our learned policy on it,
and the closed loop of simulated shoppers answering the engine's offers."""
