"""Coordinators by text: registered phones (``phones``), the one-time codes they receive
(``codes``) and the commands they text (``commands``). Imports ``flows`` and ``service``."""
