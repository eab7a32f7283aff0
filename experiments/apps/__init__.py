"""The apps the flaw experiments run."""
