"""Runs the loop: driver, stage launch, manifest, lock, pre-flight checks, status, disk."""
