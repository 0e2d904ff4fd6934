"""The imperative shell of HandsUp: HTTP, persistence, console and CLI.

May import ``flows``; never imports ``workers`` (jobs are named by dotted path instead).
"""
