"""The paper's experiments and the theory check, as declarative configs plus runners."""
