"""Imports every module that registers job functions (one task per module)."""
