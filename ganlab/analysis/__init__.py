"""Analyses of trained generators (GAN dissection)."""
