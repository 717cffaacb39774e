"""Manipulation environments: single arms, dual arms and mobile manipulators at a table, one task each."""
