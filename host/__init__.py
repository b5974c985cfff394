"""The host side of Gatebook: the golden-model engine and everything around it."""
