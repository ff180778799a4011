"""Release operations: promote a published model version, roll back, show what serves."""
