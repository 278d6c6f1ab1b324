"""Grouping the faces of an unlabelled photo collection by person, and naming the groups."""
