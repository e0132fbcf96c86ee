"""The built-in extraction plugins of evidex, loaded through the `evidex` entry points."""
