"""Reward models under weak supervision: preferences, reward models, best-of-n and RL."""
