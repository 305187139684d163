"""The fixes of the hardened profile, each small and switchable."""
