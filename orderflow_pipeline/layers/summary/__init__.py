"""Summary layer (SPEC §8-§10): context, scoring, documents, build."""
