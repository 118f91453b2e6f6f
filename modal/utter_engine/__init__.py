"""Utter speech engine: the Modal GPU side of engine protocol v1."""
